//! HMAC-SHA256 signatures as the partner computes them: lowercase hex over the raw body.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

fn keyed(secret: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length")
}

/// Lowercase hex HMAC-SHA256 of `payload` keyed with `secret`.
pub fn sign(payload: &[u8], secret: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(payload);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a hex signature in constant time. Malformed hex (wrong length, not hex) is
/// simply not a match. Upper-case hex is accepted, as `openssl dgst` users may paste it.
pub fn verify(payload: &[u8], signature_hex: &str, secret: &[u8]) -> bool {
    let Ok(expected) = hex::decode(signature_hex.trim()) else {
        return false;
    };
    let mut mac = keyed(secret);
    mac.update(payload);
    mac.verify_slice(&expected).is_ok()
}

/// Plain SHA-256 in hex, so two sides can compare the bytes they signed without the secret.
pub fn sha256_hex(payload: &[u8]) -> String {
    hex::encode(Sha256::digest(payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test cases 1, 2, 6 and 7 (HMAC-SHA-256 column).
    #[test]
    fn rfc4231_vectors() {
        let cases: [(Vec<u8>, &[u8], &str); 4] = [
            (
                vec![0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ];
        for (key, data, expected) in cases {
            assert_eq!(sign(data, &key), expected);
            assert!(verify(data, expected, &key));
            assert!(verify(data, &expected.to_uppercase(), &key));
        }
    }

    #[test]
    fn verify_rejects_malformed_or_wrong_signatures() {
        let good = sign(b"body", b"secret");
        assert!(!verify(b"body", &good, b"other"));
        assert!(!verify(b"body!", &good, b"secret"));
        assert!(!verify(b"body", "zz", b"secret"));
        assert!(!verify(b"body", &good[..10], b"secret"));
        assert!(!verify(b"body", "", b"secret"));
    }

    #[test]
    fn sha256_of_empty_input() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
