//! CRC-16 X.25 (CRC-16/IBM-SDLC) as used by Crystalfontz packet modules.
//!
//! Polynomial 0x1021 reflected (0x8408), initial value 0xFFFF, final xor 0xFFFF.
//! On the wire the CRC goes low byte first. Check value: `crc16_x25(b"123456789") == 0x906E`.

/// Computes the CRC-16 X.25 of `data`.
pub fn crc16_x25(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc16_x25(b"123456789"), 0x906E);
    }

    #[test]
    fn empty_is_zero() {
        // init 0xFFFF, no data, final xor 0xFFFF.
        assert_eq!(crc16_x25(b""), 0x0000);
    }
}
