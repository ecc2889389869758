fn main() {
    // Without a rerun-if line (napi-build's, without the `napi` feature), cargo reruns this script,
    // and so rebuilds the crate, whenever any file of the package changes, logs included.
    println!("cargo::rerun-if-changed=build.rs");
    #[cfg(feature = "napi")]
    napi_build::setup();
}
