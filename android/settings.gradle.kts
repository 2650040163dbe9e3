pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}
dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}
rootProject.name = "OutreachLog"
// app: Compose UI only (renders state, forwards events). logic: all app logic, plain Kotlin/JVM,
// tested on the JVM against the real library (see README.md).
include(":app", ":logic")
