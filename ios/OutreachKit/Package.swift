// swift-tools-version:5.9
// OutreachKit: the uniffi-generated Swift bindings (OutreachFFI) over the Rust library shipped
// as an XCFramework, and OutreachCore, the app's logic in plain Swift (state holders, KeyVault,
// SyncPolicy). Run ../scripts/build-xcframework.sh first: it builds
// Frameworks/outreach_ffiFFI.xcframework and writes Sources/OutreachFFI/outreach_ffi.swift.
import PackageDescription

let package = Package(
    name: "OutreachKit",
    platforms: [.iOS(.v16), .macOS(.v13)],
    products: [
        .library(name: "OutreachCore", targets: ["OutreachCore"]),
        .library(name: "OutreachFFI", targets: ["OutreachFFI"]),
    ],
    targets: [
        // Static liboutreach_ffi.a per platform + outreach_ffiFFI.h + module.modulemap
        // (module outreach_ffiFFI), which the generated Swift imports.
        .binaryTarget(name: "outreach_ffiFFI", path: "Frameworks/outreach_ffiFFI.xcframework"),
        .target(
            name: "OutreachFFI",
            dependencies: ["outreach_ffiFFI"],
            path: "Sources/OutreachFFI",
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])] // generated code
        ),
        .target(name: "OutreachCore", dependencies: ["OutreachFFI"], path: "Sources/OutreachCore"),
        // The same checks that run on Linux (tests/tests/shells.rs): `swift run OutreachCoreChecks`.
        .executableTarget(
            name: "OutreachCoreChecks",
            dependencies: ["OutreachCore", "OutreachFFI"],
            path: "Tests/OutreachCoreChecks"
        ),
    ]
)
