//! Sizes and durations as people write them (`"512M"`, `"1500ms"`), shared by the policy
//! file and the CLI flags.
//!
//! Both parsers do exact decimal arithmetic on integers, never floats, so `"1.5G"` is
//! exactly 1610612736 bytes and the `format_*` functions always print a string that
//! parses back to the same value.

use std::time::Duration;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Parses a size in bytes.
///
/// A bare number is bytes. The suffixes `K`, `M`, `G` and `T` (also `KiB`, `MiB`, `GiB`,
/// `TiB`, and `B` for bytes) are 1024-based and case-insensitive. A decimal fraction is
/// allowed as long as the result is a whole number of bytes (`"1.5G"`). The decimal
/// suffixes `KB`, `MB`, `GB` and `TB` are rejected because they are ambiguous.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let (number, suffix) = split_number(s.trim());
    let multiplier: u64 = match suffix.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" | "mb" | "gb" | "tb" => {
            return Err(format!(
                "invalid size {s:?}: ambiguous suffix {suffix:?} (sizes are 1024-based: use K, M, G or T)"
            ))
        }
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown suffix {suffix:?} (use K, M, G or T)"
            ))
        }
    };
    let bytes = scaled_decimal(number, u128::from(multiplier)).map_err(|why| format!("invalid size {s:?}: {why}"))?;
    let Some(bytes) = bytes else {
        return Err(format!("invalid size {s:?}: not a whole number of bytes"));
    };
    u64::try_from(bytes).map_err(|_| format!("invalid size {s:?}: too large"))
}

/// Parses a duration.
///
/// A bare number is seconds (`"2.5"` is 2.5 s). The units are `ns`, `us`, `ms`, `s`,
/// `m` (or `min`) and `h`, and the number may have a decimal fraction (`"1.5h"`) as long
/// as the result is a whole number of nanoseconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = split_number(s.trim());
    let nanos_per_unit: u128 = match unit {
        "" | "s" => NANOS_PER_SEC,
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "m" | "min" => 60 * NANOS_PER_SEC,
        "h" => 3600 * NANOS_PER_SEC,
        _ => {
            return Err(format!(
                "invalid duration {s:?}: unknown unit {unit:?} (use ms, s, m or h)"
            ))
        }
    };
    let nanos = scaled_decimal(number, nanos_per_unit).map_err(|why| format!("invalid duration {s:?}: {why}"))?;
    let Some(nanos) = nanos else {
        return Err(format!("invalid duration {s:?}: more precise than one nanosecond"));
    };
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| format!("invalid duration {s:?}: too large"))?;
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).expect("remainder is below 10^9");
    Ok(Duration::new(secs, subsec))
}

/// Formats a size with the largest 1024-based suffix that divides it exactly
/// (`"512M"`, `"1536K"`, `"1000"`); [`parse_size`] returns the same value.
pub fn format_size(bytes: u64) -> String {
    if bytes == 0 {
        return "0".to_owned();
    }
    for (suffix, shift) in [("T", 40), ("G", 30), ("M", 20), ("K", 10)] {
        if bytes.is_multiple_of(1 << shift) {
            return format!("{}{suffix}", bytes >> shift);
        }
    }
    bytes.to_string()
}

/// Formats a duration with the largest unit that divides it exactly (`"10s"`,
/// `"1500ms"`, `"2m"`); anything finer than a millisecond is written as decimal seconds.
/// [`parse_duration`] returns the same value.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    for (unit, size) in [
        ("h", 3600 * NANOS_PER_SEC),
        ("m", 60 * NANOS_PER_SEC),
        ("s", NANOS_PER_SEC),
        ("ms", 1_000_000),
    ] {
        if nanos.is_multiple_of(size) {
            return format!("{}{unit}", nanos / size);
        }
    }
    let fraction = format!("{:09}", d.subsec_nanos());
    format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
}

/// Splits `"1.5 GiB"` into `("1.5", "GiB")`.
fn split_number(s: &str) -> (&str, &str) {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let (number, rest) = s.split_at(end);
    (number, rest.trim_start())
}

/// `number × scale` for a decimal `number` such as `"12"` or `"1.25"`; `Ok(None)` when
/// the result is not a whole number.
fn scaled_decimal(number: &str, scale: u128) -> Result<Option<u128>, &'static str> {
    if number.starts_with('-') {
        return Err("must not be negative");
    }
    let (int, frac) = number.split_once('.').unwrap_or((number, ""));
    if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a number followed by an optional unit");
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || (number.contains('.') && frac.is_empty()) {
        return Err("expected a number followed by an optional unit");
    }
    if int.len() > 30 || frac.len() > 18 {
        return Err("too many digits");
    }
    let too_large = "too large";
    let int: u128 = int.parse().map_err(|_| too_large)?;
    let whole = int.checked_mul(scale).ok_or(too_large)?;
    if frac.is_empty() {
        return Ok(Some(whole));
    }
    let denominator = 10u128.pow(u32::try_from(frac.len()).expect("at most 18 digits"));
    let numerator: u128 = frac.parse::<u128>().map_err(|_| too_large)?;
    let scaled = numerator.checked_mul(scale).ok_or(too_large)?;
    if scaled % denominator != 0 {
        return Ok(None);
    }
    Ok(Some(whole.checked_add(scaled / denominator).ok_or(too_large)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("512 mib"), Ok(512 << 20));
        assert_eq!(parse_size("1k"), Ok(1024));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("10B"), Ok(10));
        assert_eq!(parse_size("1.5G"), Ok(1_610_612_736));
        assert_eq!(parse_size(" 64K "), Ok(65536));
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(
            parse_size("12X").unwrap_err(),
            r#"invalid size "12X": unknown suffix "X" (use K, M, G or T)"#
        );
        assert!(parse_size("1MB").unwrap_err().contains("ambiguous suffix"));
        assert!(parse_size("-1M").unwrap_err().contains("negative"));
        assert!(parse_size("").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("1.").is_err());
        assert!(parse_size("1..5M").is_err());
        assert!(parse_size("1.3").unwrap_err().contains("whole number"));
        assert!(parse_size("16777216T").unwrap_err().contains("too large"));
        assert!(parse_size("99999999999999999999999999999999999").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("2min"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn bad_durations() {
        assert!(parse_duration("10x").unwrap_err().contains("unknown unit"));
        assert!(parse_duration("10S").is_err());
        assert!(parse_duration("-1s").unwrap_err().contains("negative"));
        assert!(parse_duration("0.5ns").unwrap_err().contains("precise"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn size_round_trips() {
        for bytes in [
            0,
            1,
            1000,
            1024,
            1536,
            16 << 20,
            512 << 20,
            4 << 30,
            3 << 40,
            (1 << 40) + 1,
            u64::MAX,
        ] {
            let text = format_size(bytes);
            assert_eq!(parse_size(&text), Ok(bytes), "{text}");
        }
        assert_eq!(format_size(512 << 20), "512M");
        assert_eq!(format_size(1536), "1536");
        assert_eq!(format_size(1536 << 10), "1536K");
        assert_eq!(format_size(4 << 30), "4G");
    }

    #[test]
    fn duration_round_trips() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_micros(1500),
            Duration::from_millis(1500),
            Duration::from_secs(10),
            Duration::from_secs(90),
            Duration::from_secs(120),
            Duration::from_secs(86400),
            Duration::new(1, 1),
            Duration::MAX,
        ] {
            let text = format_duration(d);
            assert_eq!(parse_duration(&text), Ok(d), "{text}");
        }
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(10)), "10s");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::from_secs(86400)), "24h");
        assert_eq!(format_duration(Duration::from_micros(1500)), "0.0015s");
    }
}
