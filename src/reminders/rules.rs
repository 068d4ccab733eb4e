//! What a service center would explain to a customer: when reminders go out, when they wait, in which language and
//! with which words. Pure functions, no database.

use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc};

use super::model::{Language, ReminderKind};

/// Ready-for-pickup messages at most, after which the store calls the customer instead (the first, the next day's,
/// then ten weekly ones: about ten weeks, longer than the manual's April-to-May case).
pub const MAX_READY_MESSAGES: i32 = 12;

/// Attempts at one message before it is given up as `failed`.
pub const MAX_ATTEMPTS: i32 = 4;

/// When the next ready-for-pickup message is due after message `sequence_no` went out at `sent_at`: the manual's
/// "the same day, again the next day, then weekly until collected". `None` once the sequence is complete.
pub fn next_ready(sequence_no: i32, sent_at: DateTime<Utc>) -> Option<(i32, DateTime<Utc>)> {
    if sequence_no >= MAX_READY_MESSAGES {
        return None;
    }
    let gap = if sequence_no == 1 {
        Duration::days(1)
    } else {
        Duration::days(7)
    };
    Some((sequence_no + 1, sent_at + gap))
}

/// How long a failed attempt waits before the next: 1, 2, 4 minutes…
pub fn retry_after(attempts: i32) -> Duration {
    Duration::minutes(1 << attempts.clamp(1, 10).saturating_sub(1))
}

fn local_instant(tz: chrono_tz::Tz, date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&date.and_time(time)) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        // A time skipped by a clock change: an hour later exists.
        LocalResult::None => tz
            .from_local_datetime(&(date.and_time(time) + Duration::hours(1)))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| date.and_time(time).and_utc()),
    }
}

/// When quiet hours end, if `now` falls in them in the store's time zone (`time_zone`, an IANA name; an unknown
/// one counts as `Asia/Shanghai`, the network's default). Quiet hours from `start` to `end` may span midnight
/// (21:00 to 08:00); `start == end` means none.
pub fn quiet_until(now: DateTime<Utc>, time_zone: &str, start: NaiveTime, end: NaiveTime) -> Option<DateTime<Utc>> {
    if start == end {
        return None;
    }
    let tz: chrono_tz::Tz = time_zone.parse().unwrap_or(chrono_tz::Asia::Shanghai);
    let local = now.with_timezone(&tz);
    let (date, time) = (local.date_naive(), local.time());
    let end_on = if start < end {
        (start <= time && time < end).then_some(date)
    } else if time >= start {
        date.succ_opt()
    } else if time < end {
        Some(date)
    } else {
        None
    }?;
    Some(local_instant(tz, end_on, end))
}

/// The language of a message to `phone` (as stored: a mainland number without its country code, any other with
/// `+` and its code): `default` for a Chinese number (mainland, Hong Kong, Macau, Taiwan), English for the rest.
pub fn language_for(phone: &str, default: Language) -> Language {
    let chinese = !phone.starts_with('+') || ["+86", "+852", "+853", "+886"].iter().any(|p| phone.starts_with(p));
    if chinese { default } else { Language::En }
}

/// What a message says beyond its kind.
#[derive(Debug, Clone, Default)]
pub struct MessageContext {
    pub ticket_number: String,
    pub store_name: String,
    /// The tracking link (the opened message).
    pub link: Option<String>,
    /// The loaner's due time, in the store's local time, as `YYYY-MM-DD HH:MM`.
    pub due: Option<String>,
}

/// The message's text. Templates live here, one per kind and language.
pub fn render(kind: ReminderKind, language: Language, ctx: &MessageContext) -> String {
    let number = &ctx.ticket_number;
    let store = &ctx.store_name;
    let due = ctx.due.as_deref().unwrap_or("");
    match (kind, language) {
        (ReminderKind::TicketOpened, Language::Zh) => match &ctx.link {
            Some(link) => format!("您的维修单{number}已在{store}受理。查看进度：{link}"),
            None => format!("您的维修单{number}已在{store}受理。"),
        },
        (ReminderKind::TicketOpened, Language::En) => match &ctx.link {
            Some(link) => format!("Your repair {number} was received at {store}. Follow it here: {link}"),
            None => format!("Your repair {number} was received at {store}."),
        },
        (ReminderKind::QuoteWaiting, Language::Zh) => {
            format!("您的维修单{number}的报价已出，请通过查询链接确认或拒绝。")
        }
        (ReminderKind::QuoteWaiting, Language::En) => {
            format!(
                "The quote for your repair {number} is ready: please approve or decline it through your tracking link."
            )
        }
        (ReminderKind::ReadyForPickup, Language::Zh) => {
            format!("您的手机已修好（维修单{number}），请携带受理单到{store}取机。")
        }
        (ReminderKind::ReadyForPickup, Language::En) => {
            format!("Your phone is ready (repair {number}): please collect it at {store} with your receipt.")
        }
        (ReminderKind::LoanerDue, Language::Zh) => {
            format!("您借用的备用机（维修单{number}）将于{due}到期，请按时归还{store}。")
        }
        (ReminderKind::LoanerDue, Language::En) => {
            format!("The loaner phone for repair {number} is due back at {store} on {due}.")
        }
        (ReminderKind::LoanerOverdue, Language::Zh) => {
            format!("您借用的备用机（维修单{number}）已逾期，请尽快归还{store}。")
        }
        (ReminderKind::LoanerOverdue, Language::En) => {
            format!("The loaner phone for repair {number} is overdue: please return it to {store} soon.")
        }
        (ReminderKind::CourierOnTheWay, Language::Zh) => {
            format!("您的手机（维修单{number}）已由快递寄出，正在送往您处。")
        }
        (ReminderKind::CourierOnTheWay, Language::En) => {
            format!("Your phone (repair {number}) is with the courier, on its way to you.")
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveTime, TimeZone, Utc};

    use super::*;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    #[test]
    fn quiet_hours_span_midnight_in_the_store_time_zone() {
        let (start, end) = (hm(21, 0), hm(8, 0));
        // Shanghai is UTC+8: 13:00Z is 21:00 local, 23:59Z is 07:59 local, 00:00Z is 08:00 local.
        let cases = [
            (Utc.with_ymd_and_hms(2026, 5, 1, 12, 59, 0), None),
            (
                Utc.with_ymd_and_hms(2026, 5, 1, 13, 0, 0),
                Some(Utc.with_ymd_and_hms(2026, 5, 2, 0, 0, 0)),
            ),
            (
                Utc.with_ymd_and_hms(2026, 5, 1, 23, 59, 0),
                Some(Utc.with_ymd_and_hms(2026, 5, 2, 0, 0, 0)),
            ),
            (Utc.with_ymd_and_hms(2026, 5, 2, 0, 0, 0), None),
        ];
        for (now, expected) in cases {
            let now = now.single().unwrap_or_default();
            let expected = expected.map(|e| e.single().unwrap_or_default());
            assert_eq!(quiet_until(now, "Asia/Shanghai", start, end), expected, "{now}");
        }
        // The same instant is daytime in London.
        let evening_in_shanghai = Utc.with_ymd_and_hms(2026, 5, 1, 14, 0, 0).single().unwrap_or_default();
        assert_eq!(quiet_until(evening_in_shanghai, "Europe/London", start, end), None);
        assert_eq!(
            quiet_until(evening_in_shanghai, "Asia/Shanghai", start, start),
            None,
            "no quiet hours"
        );
        // Quiet hours within one day.
        let lunch = Utc.with_ymd_and_hms(2026, 5, 1, 4, 30, 0).single().unwrap_or_default();
        assert_eq!(
            quiet_until(lunch, "Asia/Shanghai", hm(12, 0), hm(13, 0)),
            Utc.with_ymd_and_hms(2026, 5, 1, 5, 0, 0).single()
        );
    }

    #[test]
    fn ready_messages_go_the_same_day_the_next_day_then_weekly_and_end() {
        let t0 = Utc.with_ymd_and_hms(2026, 4, 9, 2, 0, 0).single().unwrap_or_default();
        assert_eq!(next_ready(1, t0), Some((2, t0 + Duration::days(1))));
        assert_eq!(next_ready(2, t0), Some((3, t0 + Duration::days(7))));
        assert_eq!(next_ready(7, t0), Some((8, t0 + Duration::days(7))));
        assert_eq!(next_ready(MAX_READY_MESSAGES, t0), None);
    }

    #[test]
    fn chinese_numbers_get_the_default_language_others_english() {
        for (phone, expected) in [
            ("13800138000", Language::Zh),
            ("+85291234567", Language::Zh),
            ("+442079460958", Language::En),
            ("+14155550100", Language::En),
        ] {
            assert_eq!(language_for(phone, Language::Zh), expected, "{phone}");
        }
        assert_eq!(language_for("13800138000", Language::En), Language::En);
    }

    #[test]
    fn every_kind_renders_in_both_languages_with_its_ticket_number() {
        let ctx = MessageContext {
            ticket_number: "RT-2026-000123".into(),
            store_name: "Futian".into(),
            link: Some("https://depot.example/t/abc".into()),
            due: Some("2026-05-02 18:00".into()),
        };
        for kind in ReminderKind::ALL {
            for language in [Language::Zh, Language::En] {
                let text = render(kind, language, &ctx);
                assert!(text.contains("RT-2026-000123"), "{text}");
            }
        }
        assert!(render(ReminderKind::TicketOpened, Language::En, &ctx).ends_with("https://depot.example/t/abc"));
        assert!(render(ReminderKind::LoanerDue, Language::Zh, &ctx).contains("2026-05-02 18:00"));
    }

    #[test]
    fn retries_back_off() {
        assert_eq!(retry_after(1), Duration::minutes(1));
        assert_eq!(retry_after(2), Duration::minutes(2));
        assert_eq!(retry_after(3), Duration::minutes(4));
    }
}
