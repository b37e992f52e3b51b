//! Organisation numbers (9 digits with a mod-11 check digit) and the ISO 6523 `0192:` identifiers
//! that SBDs, Altinn and Maskinporten use for them (Brønnøysundregistrene's check-digit rule;
//! efm-common `Iso6523`).
//!
//! The integration point only checks `^\d{9}$`; the check digit is our addition. Parsing the shape
//! and checking the digit are separate so that synthetic test identifiers can still be carried.

use crate::error::{Error, ErrorKind, Result};
use std::fmt;

/// ICD of the Norwegian register of legal entities (Brønnøysund).
pub const ICD_NORWAY: &str = "0192";
/// Authority used for organisations in SBDs and Maskinporten.
pub const AUTHORITY: &str = "iso6523-actorid-upis";

/// A Norwegian organisation number whose check digit has been verified.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgNumber(String);

const WEIGHTS: [u32; 8] = [3, 2, 7, 6, 5, 4, 3, 2];

/// The check digit the first eight digits call for, or None when no valid number starts so.
fn check_digit(first_eight: &[u8]) -> Option<u32> {
    let sum: u32 = first_eight
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    match sum % 11 {
        0 => Some(0),
        1 => None,
        r => Some(11 - r),
    }
}

impl OrgNumber {
    /// Parse a bare 9-digit number or a `0192:` identifier, checking the mod-11 digit.
    pub fn parse(input: &str) -> Result<Self> {
        let digits = input.strip_prefix("0192:").unwrap_or(input);
        if digits.len() != 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::new(
                ErrorKind::InvalidOrganisationNumber,
                format!(
                    "organisation number {} is not 9 digits (expected e.g. \"910075918\" or \"0192:910075918\")",
                    crate::input::quote(input)
                ),
            ));
        }
        let bytes = digits.as_bytes();
        let last = u32::from(bytes[8] - b'0');
        match check_digit(&bytes[..8]) {
            Some(expected) if expected == last => Ok(OrgNumber(digits.to_string())),
            Some(expected) => Err(Error::new(
                ErrorKind::InvalidOrganisationNumber,
                format!(
                    "organisation number {digits} fails the mod-11 check: its last digit should be {expected}; check for a typo"
                ),
            )),
            None => Err(Error::new(
                ErrorKind::InvalidOrganisationNumber,
                format!(
                    "organisation number {digits} fails the mod-11 check: no valid number starts with {}; check for a typo",
                    &digits[..8]
                ),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 6523 form used in SBDs and Altinn: `0192:<orgnr>`.
    pub fn iso6523(&self) -> String {
        format!("{ICD_NORWAY}:{}", self.0)
    }
}

impl fmt::Display for OrgNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for OrgNumber {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        OrgNumber::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers_pass() {
        for n in [
            "991825827",
            "910075918",
            "910077473",
            "810074582",
            "984661185",
            "986252932",
            "974720760",
            "123456785",
        ] {
            OrgNumber::parse(n).unwrap_or_else(|e| panic!("{n}: {e}"));
        }
    }

    #[test]
    fn bad_numbers_fail_with_reason() {
        let e = OrgNumber::parse("404040404").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidOrganisationNumber);
        assert!(e.message().contains("mod-11"), "{e}");
        let e = OrgNumber::parse("91007591").unwrap_err();
        assert!(e.message().contains("9 digits"), "{e}");
        assert!(OrgNumber::parse("91007591x").is_err());
    }

    #[test]
    fn iso6523_round_trip() {
        let n = OrgNumber::parse("0192:910075918").unwrap();
        assert_eq!(n.as_str(), "910075918");
        assert_eq!(n.iso6523(), "0192:910075918");
    }
}
