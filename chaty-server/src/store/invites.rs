//! Invitations to register, shared by both backends: the refusal, and how
//! `invite create --expires` durations read (`30m`, `12h`, `7d`).

use chaty_proto::ErrorCode;

use crate::error::StoreError;

/// The refusal for an invite that is unknown, used up or expired.
pub fn unusable() -> StoreError {
    StoreError::refused(ErrorCode::Forbidden, "that invite is not valid: unknown, used up or expired")
}

/// A duration such as `90s`, `30m`, `12h` or `7d`, in milliseconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || format!("\"{text}\" is not a duration; expected a number and s, m, h or d, e.g. 30m, 12h, 7d");
    let unit = text.chars().last().ok_or_else(bad)?;
    let scale: i64 = match unit {
        's' => 1_000,
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return Err(bad()),
    };
    let number: i64 = text[..text.len() - 1].parse().map_err(|_| bad())?;
    if number <= 0 {
        return Err(bad());
    }
    number.checked_mul(scale).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("30m"), Ok(30 * 60_000));
        assert_eq!(parse_duration("12h"), Ok(12 * 3_600_000));
        assert_eq!(parse_duration("7d"), Ok(7 * 86_400_000));
        assert_eq!(parse_duration("1s"), Ok(1_000));
        for bad in ["", "d", "7", "-1d", "0h", "1w", "1.5h", "h1", "99999999999999999d"] {
            let e = parse_duration(bad).expect_err(bad);
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
    }
}
