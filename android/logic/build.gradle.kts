// Plain Kotlin/JVM module: all app logic, no Android dependency. The uniffi-generated bindings
// (uniffi/outreach_ffi/outreach_ffi.kt) are compiled here, from src/generated/kotlin, which
// scripts/build-rust-libs.sh fills. JNA is compileOnly: the app ships the Android AAR of JNA
// (with its libjnidispatch.so per ABI), the JVM tests use the jar.
//
// The same sources are built and tested on a plain JVM by pom.xml (Maven, offline) from
// `cargo test -p outreach-tests --test shells`; see ../README.md.
plugins {
    alias(libs.plugins.kotlin.jvm)
}

kotlin {
    jvmToolchain(17)
}

sourceSets {
    main {
        kotlin.srcDir("src/generated/kotlin")
    }
}

dependencies {
    compileOnly(libs.jna)
    testImplementation(libs.jna)
    testImplementation(libs.kotlin.test.junit5)
    testRuntimeOnly(libs.junit.jupiter.engine)
}

tasks.test {
    useJUnitPlatform()
    // A host build of liboutreach_ffi.so (cargo build -p outreach-ffi) for JNA.
    systemProperty("jna.library.path", rootProject.file("../target/debug").absolutePath)
}
