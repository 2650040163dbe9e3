plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
    alias(libs.plugins.kotlin.compose)
}

android {
    namespace = "org.outreach.app"
    compileSdk = 35
    // Tested NDK: r28 links 16 KB-aligned by default; build-rust-libs.sh also passes
    // -Wl,-z,max-page-size=16384 so older NDKs produce Android 15+-compatible .so files.
    ndkVersion = "28.0.13004108"

    defaultConfig {
        applicationId = "org.outreach.app"
        minSdk = 26 // java.time and the Keystore features used by KeystoreKeyVault
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
        ndk {
            abiFilters += listOf("arm64-v8a", "armeabi-v7a", "x86_64")
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = true
            isShrinkResources = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions {
        jvmTarget = "17"
    }
    buildFeatures {
        compose = true
    }

    // liboutreach_ffi.so per ABI lives in src/main/jniLibs/<abi>/ (scripts/build-rust-libs.sh).
    // Uncompressed + page-aligned in the APK so it is mmapped directly (16 KB pages on 15+).
    packaging {
        jniLibs {
            useLegacyPackaging = false
            keepDebugSymbols += listOf("**/liboutreach_ffi.so") // stripped by the script, not AGP
        }
    }
}

dependencies {
    implementation(project(":logic"))
    // The AAR variant of JNA carries libjnidispatch.so for each Android ABI (JNA >= 5.17 is
    // 16 KB-page aligned).
    implementation("${libs.jna.get()}@aar")

    implementation(platform(libs.compose.bom))
    implementation(libs.compose.ui)
    implementation(libs.compose.material3)
    implementation(libs.compose.ui.tooling.preview)
    debugImplementation(libs.compose.ui.tooling)
    implementation(libs.activity.compose)
    implementation(libs.lifecycle.runtime)
    implementation(libs.lifecycle.process)
    implementation(libs.work.runtime)
    implementation(libs.biometric)
}
