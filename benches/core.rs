//! Rust-level costs of one sync before the network: signing, and signing plus building the
//! request. `cargo bench`; `npm run bench` compares the whole package with the guide's code.
//!
//! The library crate cannot be linked into a bench executable (its Node-API symbols exist only
//! inside node), so the pure signing module is compiled in directly.

// Only `sign` is measured; the module's other items and its unit tests go unused here.
#[allow(dead_code, unused_imports)]
#[path = "../src/signing.rs"]
mod signing;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

const TYPICAL_BODY: &str = r#"{"event":"booking.paid","booking_id":"b24a8a76-edb7-4b0c-950b-3144cc4d7ec6","status":"LUNAS","paid_amount":32000,"payment_method":"QRIS","payment_details":{"invoice_id":"INV-123456"},"venue_id":"venue-1","total_amount":64000,"customer_name":"Budi","timestamp":"2026-02-04T23:00:00.000Z"}"#;
const SECRET: &[u8] = b"bench-shared-secret-0123456789";

fn sign(c: &mut Criterion) {
    let mut group = c.benchmark_group("sign");
    let large = "x".repeat(1 << 20);
    for (name, body) in [("typical 300 B", TYPICAL_BODY), ("1 MB", large.as_str())] {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| signing::sign(black_box(body.as_bytes()), SECRET))
        });
    }
    group.finish();
}

fn build_request(c: &mut Criterion) {
    let client = reqwest::Client::new();
    let url =
        reqwest::Url::parse("http://127.0.0.1:8080/api/webhooks/pwa-sync").expect("valid URL");
    c.bench_function("sign and build the request", |b| {
        b.iter(|| {
            let signature = signing::sign(TYPICAL_BODY.as_bytes(), SECRET);
            client
                .post(url.clone())
                .header("content-type", "application/json")
                .header("x-pwa-signature", signature)
                .body(TYPICAL_BODY)
                .build()
                .expect("the request builds")
        })
    });
}

criterion_group!(benches, sign, build_request);
criterion_main!(benches);
