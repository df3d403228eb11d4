//! Time zones: the one IANA name in the config (`Europe/Berlin`), spelled the way each
//! vendor's phones take it.
//!
//! Why a table and not the system's tz database: no phone takes an IANA name. Yealink wants
//! an offset and one of its own zone names, Polycom an offset in seconds plus the DST rule
//! spelled out, Cisco enterprise firmware a Windows zone name, Cisco SPA/MPP an offset plus
//! a rule string, Grandstream a POSIX `TZ` string and Snom a country + offset token. Those
//! spellings cannot be computed from tzdata, so each supported zone is one row here, and a
//! name not in the table is a configuration error rather than a phone left on its factory
//! zone (Yealink's is UTC+8).

/// Why a zone name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZoneError {
    /// The name is not in the table.
    #[error("time zone {0:?} is not one the phones can be given; use an IANA name such as Europe/Berlin, America/New_York or UTC (list: docs/provisioning.md)")]
    Unknown(String),
}

/// When daylight saving time starts and ends: the rule families offices use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dst {
    /// No DST.
    None,
    /// EU: last Sunday of March to last Sunday of October, at 01:00 UTC.
    Eu,
    /// US and Canada: second Sunday of March to first Sunday of November, 02:00 local.
    Us,
    /// Southern Australia: first Sunday of October to first Sunday of April, 02:00/03:00.
    Au,
    /// New Zealand: last Sunday of September to first Sunday of April, 02:00/03:00.
    Nz,
}

/// One change of clock: month, which Sunday, local standard-time hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Month, 1-12.
    pub month: u8,
    /// The Sunday: 1 first, 2 second, ..., 5 last.
    pub week: u8,
    /// Hour of local wall time at which it happens.
    pub hour: u8,
}

/// One supported zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zone {
    /// IANA name.
    pub name: &'static str,
    /// Standard (winter) offset from UTC in minutes, east positive.
    pub offset_min: i32,
    /// DST rule.
    pub dst: Dst,
    /// Windows zone name (Cisco enterprise firmware appends `Standard/Daylight Time`).
    pub windows: &'static str,
    /// Yealink's `local_time.time_zone_name`.
    pub yealink: &'static str,
    /// Snom's country code for its `timezone` token (`GER` in `GER+1`).
    pub snom: &'static str,
    /// POSIX `TZ` string (Grandstream).
    pub posix: &'static str,
}

const fn z(
    name: &'static str,
    offset_min: i32,
    dst: Dst,
    windows: &'static str,
    yealink: &'static str,
    snom: &'static str,
    posix: &'static str,
) -> Zone {
    Zone {
        name,
        offset_min,
        dst,
        windows,
        yealink,
        snom,
        posix,
    }
}

const EU1: &str = "CET-1CEST,M3.5.0,M10.5.0/3";
const EU2: &str = "EET-2EEST,M3.5.0/3,M10.5.0/4";

/// The supported zones.
#[rustfmt::skip]
pub const ZONES: &[Zone] = &[
    z("UTC", 0, Dst::None, "UTC", "UTC", "GMT", "UTC0"),
    z("Etc/UTC", 0, Dst::None, "UTC", "UTC", "GMT", "UTC0"),
    // Europe
    z("Europe/London", 0, Dst::Eu, "GMT", "United Kingdom(London)", "GBR", "GMT0BST,M3.5.0/1,M10.5.0"),
    z("Europe/Dublin", 0, Dst::Eu, "GMT", "Ireland(Dublin)", "IRL", "GMT0IST,M3.5.0/1,M10.5.0"),
    z("Europe/Lisbon", 0, Dst::Eu, "GMT", "Portugal(Lisboa)", "PRT", "WET0WEST,M3.5.0/1,M10.5.0"),
    z("Europe/Berlin", 60, Dst::Eu, "W. Europe", "Germany(Berlin)", "GER", EU1),
    z("Europe/Paris", 60, Dst::Eu, "Romance", "France(Paris)", "FRA", EU1),
    z("Europe/Madrid", 60, Dst::Eu, "Romance", "Spain(Madrid)", "ESP", EU1),
    z("Europe/Rome", 60, Dst::Eu, "W. Europe", "Italy(Rome)", "ITA", EU1),
    z("Europe/Amsterdam", 60, Dst::Eu, "W. Europe", "Netherlands(Amsterdam)", "NLD", EU1),
    z("Europe/Brussels", 60, Dst::Eu, "Romance", "Belgium(Brussels)", "BEL", EU1),
    z("Europe/Zurich", 60, Dst::Eu, "W. Europe", "Switzerland(Bern)", "CHE", EU1),
    z("Europe/Vienna", 60, Dst::Eu, "W. Europe", "Austria(Vienna)", "AUT", EU1),
    z("Europe/Stockholm", 60, Dst::Eu, "W. Europe", "Sweden(Stockholm)", "SWE", EU1),
    z("Europe/Oslo", 60, Dst::Eu, "W. Europe", "Norway(Oslo)", "NOR", EU1),
    z("Europe/Copenhagen", 60, Dst::Eu, "Romance", "Denmark(Kopenhagen)", "DNK", EU1),
    z("Europe/Warsaw", 60, Dst::Eu, "Central European", "Poland(Warsaw)", "POL", EU1),
    z("Europe/Prague", 60, Dst::Eu, "Central Europe", "Czech Republic(Prague)", "CZE", EU1),
    z("Europe/Budapest", 60, Dst::Eu, "Central Europe", "Hungary(Budapest)", "HUN", EU1),
    z("Europe/Helsinki", 120, Dst::Eu, "FLE", "Finland(Helsinki)", "FIN", EU2),
    z("Europe/Athens", 120, Dst::Eu, "GTB", "Greece(Athens)", "GRC", EU2),
    z("Europe/Bucharest", 120, Dst::Eu, "GTB", "Romania(Bucharest)", "ROU", EU2),
    z("Europe/Istanbul", 180, Dst::None, "Turkey", "Turkey(Ankara)", "TUR", "<+03>-3"),
    z("Europe/Moscow", 180, Dst::None, "Russian", "Russia(Moscow)", "RUS", "MSK-3"),
    // America
    z("America/New_York", -300, Dst::Us, "Eastern", "United States-Eastern Time", "USA", "EST5EDT,M3.2.0,M11.1.0"),
    z("America/Toronto", -300, Dst::Us, "Eastern", "Canada(Eastern Time)", "CAN", "EST5EDT,M3.2.0,M11.1.0"),
    z("America/Chicago", -360, Dst::Us, "Central", "United States-Central Time", "USA", "CST6CDT,M3.2.0,M11.1.0"),
    z("America/Denver", -420, Dst::Us, "Mountain", "United States-Mountain Time", "USA", "MST7MDT,M3.2.0,M11.1.0"),
    z("America/Phoenix", -420, Dst::None, "US Mountain", "United States-Arizona", "USA", "MST7"),
    z("America/Los_Angeles", -480, Dst::Us, "Pacific", "United States-Pacific Time", "USA", "PST8PDT,M3.2.0,M11.1.0"),
    z("America/Vancouver", -480, Dst::Us, "Pacific", "Canada(Pacific Time)", "CAN", "PST8PDT,M3.2.0,M11.1.0"),
    z("America/Anchorage", -540, Dst::Us, "Alaskan", "United States-Alaska Time", "USA", "AKST9AKDT,M3.2.0,M11.1.0"),
    z("America/Mexico_City", -360, Dst::None, "Central Standard Time (Mexico)", "Mexico(Mexico City)", "MEX", "CST6"),
    z("America/Bogota", -300, Dst::None, "SA Pacific", "Colombia(Bogota)", "COL", "<-05>5"),
    z("America/Lima", -300, Dst::None, "SA Pacific", "Peru(Lima)", "PER", "<-05>5"),
    z("America/Sao_Paulo", -180, Dst::None, "E. South America", "Brazil(Sao Paulo)", "BRA", "<-03>3"),
    z("America/Argentina/Buenos_Aires", -180, Dst::None, "Argentina", "Argentina(Buenos Aires)", "ARG", "<-03>3"),
    // Asia
    z("Asia/Dubai", 240, Dst::None, "Arabian", "United Arab Emirates(Abu Dhabi)", "ARE", "<+04>-4"),
    z("Asia/Karachi", 300, Dst::None, "Pakistan", "Pakistan(Islamabad)", "PAK", "PKT-5"),
    z("Asia/Kolkata", 330, Dst::None, "India", "India(Calcutta)", "IND", "IST-5:30"),
    z("Asia/Bangkok", 420, Dst::None, "SE Asia", "Thailand(Bangkok)", "THA", "<+07>-7"),
    z("Asia/Jakarta", 420, Dst::None, "SE Asia", "Indonesia(Jakarta)", "IDN", "WIB-7"),
    z("Asia/Singapore", 480, Dst::None, "Singapore", "Singapore(Singapore)", "SGP", "<+08>-8"),
    z("Asia/Shanghai", 480, Dst::None, "China", "China(Beijing)", "CHN", "CST-8"),
    z("Asia/Hong_Kong", 480, Dst::None, "China", "Hong Kong", "HKG", "HKT-8"),
    z("Asia/Taipei", 480, Dst::None, "Taipei", "Taiwan(Taipei)", "TWN", "CST-8"),
    z("Asia/Manila", 480, Dst::None, "Singapore", "Philippines(Manila)", "PHL", "PST-8"),
    z("Asia/Seoul", 540, Dst::None, "Korea", "Korea(Seoul)", "KOR", "KST-9"),
    z("Asia/Tokyo", 540, Dst::None, "Tokyo", "Japan(Tokyo)", "JPN", "JST-9"),
    // Australia and New Zealand
    z("Australia/Perth", 480, Dst::None, "W. Australia", "Australia(Perth)", "AUS", "AWST-8"),
    z("Australia/Adelaide", 570, Dst::Au, "Cen. Australia", "Australia(Adelaide)", "AUS", "ACST-9:30ACDT,M10.1.0,M4.1.0/3"),
    z("Australia/Darwin", 570, Dst::None, "AUS Central", "Australia(Darwin)", "AUS", "ACST-9:30"),
    z("Australia/Brisbane", 600, Dst::None, "E. Australia", "Australia(Brisbane)", "AUS", "AEST-10"),
    z("Australia/Sydney", 600, Dst::Au, "AUS Eastern", "Australia(Sydney)", "AUS", "AEST-10AEDT,M10.1.0,M4.1.0/3"),
    z("Australia/Melbourne", 600, Dst::Au, "AUS Eastern", "Australia(Melbourne)", "AUS", "AEST-10AEDT,M10.1.0,M4.1.0/3"),
    z("Australia/Hobart", 600, Dst::Au, "Tasmania", "Australia(Hobart)", "AUS", "AEST-10AEDT,M10.1.0,M4.1.0/3"),
    z("Pacific/Auckland", 720, Dst::Nz, "New Zealand", "New Zealand(Wellington)", "NZL", "NZST-12NZDT,M9.5.0,M4.1.0/3"),
];

impl Zone {
    /// The zone called `name` (exact IANA spelling).
    pub fn lookup(name: &str) -> Result<&'static Zone, ZoneError> {
        ZONES
            .iter()
            .find(|z| z.name == name.trim())
            .ok_or_else(|| ZoneError::Unknown(name.chars().take(64).collect()))
    }

    /// DST start and end as local wall-clock changes, `None` without DST.
    pub fn dst_changes(&self) -> Option<(Change, Change)> {
        let c = |month, week, hour| Change { month, week, hour };
        match self.dst {
            Dst::None => None,
            // 01:00 UTC is 01:00 in London, 02:00 in Berlin, 03:00 in Helsinki (winter time),
            // and one hour later on the summer clock it ends on.
            Dst::Eu => {
                let h = (1 + self.offset_min / 60) as u8;
                Some((c(3, 5, h), c(10, 5, h + 1)))
            }
            Dst::Us => Some((c(3, 2, 2), c(11, 1, 2))),
            Dst::Au => Some((c(10, 1, 2), c(4, 1, 3))),
            Dst::Nz => Some((c(9, 5, 2), c(4, 1, 3))),
        }
    }

    /// `+1`, `-5`, `+5:30`, `0`: the offset as Yealink's `local_time.time_zone` and Snom's
    /// token take it.
    pub fn offset_hours(&self) -> String {
        let sign = if self.offset_min < 0 { '-' } else { '+' };
        let m = self.offset_min.abs();
        match (m / 60, m % 60) {
            (0, 0) => "0".to_owned(),
            (h, 0) => format!("{sign}{h}"),
            (h, mm) => format!("{sign}{h}:{mm:02}"),
        }
    }

    /// `GMT+01:00`: Cisco SPA/MPP `Time_Zone`.
    pub fn spa_zone(&self) -> String {
        let sign = if self.offset_min < 0 { '-' } else { '+' };
        let m = self.offset_min.abs();
        format!("GMT{sign}{:02}:{:02}", m / 60, m % 60)
    }

    /// Cisco SPA/MPP `Daylight_Saving_Time_Rule`: `start=3/-1/7/2;end=10/-1/7/3;save=1`
    /// (month / day, -1 last, or the first day the Sunday may fall on / 7 Sunday / hour);
    /// empty without DST, which the phone reads as none.
    pub fn spa_dst_rule(&self) -> String {
        let day = |ch: &Change| {
            if ch.week == 5 {
                "-1".to_owned()
            } else {
                (1 + 7 * (i32::from(ch.week) - 1)).to_string()
            }
        };
        match self.dst_changes() {
            None => String::new(),
            Some((s, e)) => format!(
                "start={}/{}/7/{};end={}/{}/7/{};save=1",
                s.month,
                day(&s),
                s.hour,
                e.month,
                day(&e),
                e.hour
            ),
        }
    }

    /// Snom's `timezone` token: `GER+1`, `USA-5`, `IND+5:30` (the country tells the
    /// phone the DST rule).
    pub fn snom_token(&self) -> String {
        format!("{}{}", self.snom, {
            let o = self.offset_hours();
            if o == "0" {
                "+0".to_owned()
            } else {
                o
            }
        })
    }

    /// Cisco enterprise firmware's `<timeZone>`: `W. Europe Standard/Daylight Time`, or
    /// `... Standard Time` where there is no DST.
    pub fn cisco_name(&self) -> String {
        if self.windows == "UTC" {
            return "UTC".to_owned();
        }
        if self.windows.contains("Standard Time") {
            return self.windows.to_owned();
        }
        match self.dst {
            Dst::None => format!("{} Standard Time", self.windows),
            _ => format!("{} Standard/Daylight Time", self.windows),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn lookups_and_unknown_names() {
        assert_eq!(Zone::lookup("Europe/Berlin").unwrap().offset_min, 60);
        assert_eq!(Zone::lookup(" UTC ").unwrap().posix, "UTC0");
        for bad in [
            "",
            "Mars/Olympus",
            "europe/berlin",
            "CET",
            "GMT+1",
            "Europe/Berlin\0",
        ] {
            assert!(
                matches!(Zone::lookup(bad), Err(ZoneError::Unknown(_))),
                "{bad:?}"
            );
        }
        let e = Zone::lookup("Mars/Olympus").unwrap_err().to_string();
        assert!(
            e.contains("Mars/Olympus") && e.contains("Europe/Berlin"),
            "{e}"
        );
    }

    #[test]
    fn every_row_is_consistent() {
        let mut names = std::collections::HashSet::new();
        for z in ZONES {
            assert!(names.insert(z.name), "duplicate {}", z.name);
            // The POSIX string's standard offset is the row's offset (sign inverted).
            let std_part: String = z
                .posix
                .trim_start_matches(|c: char| c.is_ascii_alphabetic())
                .trim_start_matches('<')
                .to_owned();
            let std_part = match std_part.split_once('>') {
                Some((_, r)) => r.to_owned(),
                None => std_part,
            };
            let num: String = std_part
                .chars()
                .take_while(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | ':'))
                .collect();
            let (h, m) = num.split_once(':').unwrap_or((&num, "0"));
            let h: i32 = h
                .parse()
                .unwrap_or_else(|_| panic!("{}: {}", z.name, z.posix));
            let m: i32 = m.parse().unwrap();
            let posix_min = -(h * 60 + h.signum() * m);
            assert_eq!(posix_min, z.offset_min, "{}: {}", z.name, z.posix);
            assert_eq!(z.posix.contains(','), z.dst != Dst::None, "{}", z.name);
            assert_eq!(z.snom.len(), 3, "{}", z.name);
        }
        for prefix in ["Europe/", "America/", "Asia/", "Australia/"] {
            assert!(ZONES.iter().filter(|z| z.name.starts_with(prefix)).count() >= 5);
        }
    }

    #[test]
    fn vendor_spellings() {
        let berlin = Zone::lookup("Europe/Berlin").unwrap();
        assert_eq!(berlin.offset_hours(), "+1");
        assert_eq!(berlin.spa_zone(), "GMT+01:00");
        assert_eq!(berlin.spa_dst_rule(), "start=3/-1/7/2;end=10/-1/7/3;save=1");
        assert_eq!(berlin.snom_token(), "GER+1");
        assert_eq!(berlin.cisco_name(), "W. Europe Standard/Daylight Time");
        assert_eq!(berlin.yealink, "Germany(Berlin)");
        let london = Zone::lookup("Europe/London").unwrap();
        assert_eq!(london.offset_hours(), "0");
        assert_eq!(london.snom_token(), "GBR+0");
        assert_eq!(london.spa_dst_rule(), "start=3/-1/7/1;end=10/-1/7/2;save=1");
        let ny = Zone::lookup("America/New_York").unwrap();
        assert_eq!(ny.offset_hours(), "-5");
        assert_eq!(ny.spa_zone(), "GMT-05:00");
        assert_eq!(ny.spa_dst_rule(), "start=3/8/7/2;end=11/1/7/2;save=1");
        assert_eq!(ny.cisco_name(), "Eastern Standard/Daylight Time");
        assert_eq!(ny.snom_token(), "USA-5");
        let kolkata = Zone::lookup("Asia/Kolkata").unwrap();
        assert_eq!(kolkata.offset_hours(), "+5:30");
        assert_eq!(kolkata.spa_zone(), "GMT+05:30");
        assert_eq!(kolkata.spa_dst_rule(), "");
        assert_eq!(kolkata.cisco_name(), "India Standard Time");
        let adelaide = Zone::lookup("Australia/Adelaide").unwrap();
        assert_eq!(adelaide.offset_hours(), "+9:30");
        assert_eq!(adelaide.spa_dst_rule(), "start=10/1/7/2;end=4/1/7/3;save=1");
        let mexico = Zone::lookup("America/Mexico_City").unwrap();
        assert_eq!(mexico.cisco_name(), "Central Standard Time (Mexico)");
        assert_eq!(Zone::lookup("UTC").unwrap().cisco_name(), "UTC");
    }
}
