//! Timestamps as the IP writes and reads them (Java's ISO formats, Europe/Oslo by default).

use super::*;

/// "Now" in Europe/Oslo to the microsecond, as the IP (Java's clock) stamps its SBDs.
pub fn now_oslo() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);
    now.to_offset(oslo_offset_at_utc(now))
}

/// Europe/Oslo's offset at a UTC instant: CET (+1), CEST (+2) from the last Sunday of March
/// 01:00 UTC to the last Sunday of October 01:00 UTC (EU rules since 1996).
fn oslo_offset_at_utc(t: OffsetDateTime) -> UtcOffset {
    let t = t.to_offset(UtcOffset::UTC);
    let year = t.year();
    let start = last_sunday(year, Month::March)
        .with_hms(1, 0, 0)
        .expect("valid")
        .assume_utc();
    let end = last_sunday(year, Month::October)
        .with_hms(1, 0, 0)
        .expect("valid")
        .assume_utc();
    let hours = if t >= start && t < end { 2 } else { 1 };
    UtcOffset::from_hms(hours, 0, 0).expect("valid offset")
}

fn last_sunday(year: i32, month: Month) -> Date {
    let mut d = Date::from_calendar_date(year, month, month.length(year)).expect("valid date");
    while d.weekday() != Weekday::Sunday {
        d = d.previous_day().expect("in range");
    }
    d
}

/// Format like Java's ISO_OFFSET_DATE_TIME: seconds always, as many fraction digits as needed
/// (none when zero), `Z` for UTC.
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    let nanos = t.nanosecond();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        s.push('Z');
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let a = secs.unsigned_abs();
        s.push_str(&format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60));
    }
    s
}

/// Parse an ISO-8601 date-time as the IP's reader does: `YYYY-MM-DDTHH:MM[:SS[.f{1,9}]]` followed
/// by `Z`, `±HH:MM`, `±HHMM`, `±HH`, or nothing (then the time is Europe/Oslo local time).
pub fn parse_timestamp(s: &str) -> Result<OffsetDateTime> {
    let bad = || {
        Error::new(
            ErrorKind::SbdInvalid,
            format!(
                "{s:?} is not an ISO-8601 date-time (expected e.g. 2024-05-10T12:34:56.123+02:00)"
            ),
        )
    };
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = b.get(from..from + len)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let year = num(0, 4).ok_or_else(bad)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't'))
        || b.get(13) != Some(&b':')
    {
        return Err(bad());
    }
    let (month, day, hour, minute) = (
        num(5, 2).ok_or_else(bad)?,
        num(8, 2).ok_or_else(bad)?,
        num(11, 2).ok_or_else(bad)?,
        num(14, 2).ok_or_else(bad)?,
    );
    let mut i = 16;
    let mut second = 0;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b':') {
        second = num(i + 1, 2).ok_or_else(bad)?;
        i += 3;
        if b.get(i) == Some(&b'.') || b.get(i) == Some(&b',') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let digits = i - start;
            if digits == 0 || digits > 9 {
                return Err(bad());
            }
            nanos = num(start, digits).ok_or_else(bad)? * 10u32.pow((9 - digits) as u32);
        }
    }
    let month = Month::try_from(month as u8).map_err(|_| bad())?;
    let date = Date::from_calendar_date(year as i32, month, day as u8).map_err(|_| bad())?;
    let time =
        Time::from_hms_nano(hour as u8, minute as u8, second as u8, nanos).map_err(|_| bad())?;
    let local = PrimitiveDateTime::new(date, time);
    let rest = &s[i..];
    let offset = match rest {
        "" => {
            // Local Oslo time: try the winter offset, then correct if that instant is in summer.
            let guess = local.assume_offset(UtcOffset::from_hms(1, 0, 0).expect("valid"));
            return Ok(local.assume_offset(oslo_offset_at_utc(guess)));
        }
        "Z" | "z" => UtcOffset::UTC,
        _ => {
            let rb = rest.as_bytes();
            let sign: i8 = match rb[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            let digits: String = rest[1..].chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|c| c.is_ascii_digit())
                || !matches!(digits.len(), 2 | 4)
                || (rest.len() == 6 && rb[3] != b':')
            {
                return Err(bad());
            }
            let h: i8 = digits[..2].parse().map_err(|_| bad())?;
            let m: i8 = if digits.len() == 4 {
                digits[2..].parse().map_err(|_| bad())?
            } else {
                0
            };
            UtcOffset::from_hms(sign * h, sign * m, 0).map_err(|_| bad())?
        }
    };
    Ok(local.assume_offset(offset))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_java_style() {
        for s in [
            "2024-05-10T12:34:56.48213+02:00",
            "2019-03-25T11:35:00+01:00",
            "2003-05-10T00:31:52Z",
            "2024-05-10T12:35:10.2+02:00",
            "2024-05-10T12:35:10.123456789-03:30",
        ] {
            assert_eq!(format_timestamp(parse_timestamp(s).unwrap()), s);
        }
        // Minutes only, compact offsets, no offset (Oslo).
        assert_eq!(
            format_timestamp(parse_timestamp("2024-05-10T12:34+0200").unwrap()),
            "2024-05-10T12:34:00+02:00"
        );
        assert_eq!(
            format_timestamp(parse_timestamp("2024-07-01T10:00:00").unwrap()),
            "2024-07-01T10:00:00+02:00"
        );
        assert_eq!(
            format_timestamp(parse_timestamp("2024-01-01T10:00:00").unwrap()),
            "2024-01-01T10:00:00+01:00"
        );
        for bad in [
            "2024-13-01T00:00:00Z",
            "yesterday",
            "2024-01-01T00:00:00.1234567890Z",
            "2024-01-01T00:00:00+2",
        ] {
            assert!(parse_timestamp(bad).is_err(), "{bad}");
        }
    }
}
