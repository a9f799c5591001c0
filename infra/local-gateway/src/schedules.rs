//! Scheduled functions: the `Type: Schedule` (EventBridge rule) and `Type: ScheduleV2`
//! (EventBridge Scheduler) events of the template, with EventBridge's `rate(...)` and
//! `cron(...)` expressions, run on timers in UTC (each run spawned, so that a slow one does not
//! delay the next tick) or on request (`POST /@gateway/schedules/{id}`). A timer's run is an
//! asynchronous invocation: one that fails is retried after 1 and then 2 minutes, as Lambda does.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::events::ACCOUNT_ID;
use crate::runtime::InvokeError;
use crate::state::App;
use crate::template::ScheduleSpec;

/// Delays before the retries of a failed asynchronous invocation (Lambda's two retries).
pub const ASYNC_RETRY_DELAYS: [Duration; 2] = [Duration::from_secs(60), Duration::from_secs(120)];

/// A parsed schedule expression.
#[derive(Debug, Clone)]
pub enum Expression {
    /// `rate(N unit)`: every period, from when the schedule starts.
    Rate(Duration),
    /// `cron(min hour day-of-month month day-of-week year)`, in UTC.
    Cron(Box<cron::Schedule>),
}

impl Expression {
    /// Parses an EventBridge schedule expression: `rate(N minute[s]|hour[s]|day[s])` (singular
    /// for 1 only, plural otherwise) or `cron(...)` with six fields, one of day-of-month and
    /// day-of-week `?` (`L`, `W` and `#` are not supported here).
    pub fn parse(s: &str) -> Result<Expression, String> {
        let s = s.trim();
        if let Some(inner) = s.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return parse_rate(inner);
        }
        if let Some(inner) = s.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return parse_cron(inner);
        }
        if s.starts_with("at(") {
            return Err("one-time at(...) schedules are not supported by the local gateway".into());
        }
        Err(
            "expected rate(N unit) or cron(minutes hours day-of-month month day-of-week year)"
                .into(),
        )
    }

    /// The first scheduled time strictly after `after`, for a schedule that started at `start`
    /// (a rate counts its periods from there).
    pub fn next_after(&self, start: DateTime<Utc>, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Expression::Rate(period) => {
                let period = chrono::Duration::from_std(*period).ok()?;
                let elapsed = after.signed_duration_since(start);
                if elapsed < chrono::Duration::zero() {
                    return Some(start + period);
                }
                let periods = elapsed.num_milliseconds() / period.num_milliseconds() + 1;
                Some(start + period * i32::try_from(periods).ok()?)
            }
            Expression::Cron(schedule) => schedule.after(&after).next(),
        }
    }
}

fn parse_rate(inner: &str) -> Result<Expression, String> {
    let parts: Vec<&str> = inner.split(' ').collect();
    let [n, unit] = parts.as_slice() else {
        return Err("a rate is rate(N unit), such as rate(5 minutes)".into());
    };
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("rate value {n:?} is not a positive whole number"));
    }
    let n: u64 = n
        .parse()
        .map_err(|_| format!("rate value {n} is too large"))?;
    if n == 0 {
        return Err("rate value must be at least 1".into());
    }
    let (seconds, singular) = match *unit {
        "minute" => (60, true),
        "minutes" => (60, false),
        "hour" => (3600, true),
        "hours" => (3600, false),
        "day" => (86_400, true),
        "days" => (86_400, false),
        other => {
            return Err(format!(
                "rate unit {other:?} is not one of minute(s), hour(s), day(s)"
            ));
        }
    };
    if singular != (n == 1) {
        return Err(format!(
            "rate({n} {unit}): the unit is singular for 1 and plural otherwise"
        ));
    }
    let total = n
        .checked_mul(seconds)
        .ok_or_else(|| format!("rate({n} {unit}) is too long"))?;
    Ok(Expression::Rate(Duration::from_secs(total)))
}

fn parse_cron(inner: &str) -> Result<Expression, String> {
    let fields: Vec<&str> = inner.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = fields.as_slice() else {
        return Err(format!(
            "a cron expression has six fields (minutes hours day-of-month month day-of-week year), not {}",
            fields.len()
        ));
    };
    for (field, value) in [("day-of-month", dom), ("day-of-week", dow)] {
        if value.contains(['L', 'W', '#']) {
            return Err(format!(
                "{field} {value}: L, W and # are not supported by the local gateway"
            ));
        }
    }
    for value in [minutes, hours, month, year] {
        if value.contains('?') {
            return Err(format!(
                "{value}: ? is only for day-of-month or day-of-week"
            ));
        }
    }
    if (*dom == "?") == (*dow == "?") {
        return Err("exactly one of day-of-month and day-of-week must be ?".into());
    }
    // The cron crate reads seconds first, and numbers the days of the week as EventBridge does
    // (1 = SUN .. 7 = SAT); its `?` is `*`, and with one of the two days `*` the other decides.
    let dom = if *dom == "?" { "*" } else { dom };
    let dow = if *dow == "?" { "*" } else { dow };
    let text = format!("0 {minutes} {hours} {dom} {month} {dow} {year}");
    let schedule = cron::Schedule::from_str(&text).map_err(|e| e.to_string())?;
    Ok(Expression::Cron(Box::new(schedule)))
}

/// The ARN EventBridge would give the schedule (a rule for `Schedule`, a schedule of the default
/// group for `ScheduleV2`).
pub fn schedule_arn(region: &str, spec: &ScheduleSpec) -> String {
    if spec.kind == "ScheduleV2" {
        format!(
            "arn:aws:scheduler:{region}:{ACCOUNT_ID}:schedule/default/local-{}-{}",
            spec.function, spec.name
        )
    } else {
        format!(
            "arn:aws:events:{region}:{ACCOUNT_ID}:rule/local-{}-{}",
            spec.function, spec.name
        )
    }
}

/// EventBridge's "Scheduled Event" for a run scheduled at `time`.
pub fn scheduled_event(region: &str, resource_arn: &str, time: DateTime<Utc>) -> Value {
    json!({
        "version": "0",
        "id": crate::util::uuid_v4(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [resource_arn],
        "detail": {},
    })
}

/// What the function gets for a run scheduled at `time`: the `Input` JSON, or the Scheduled Event.
pub fn payload(region: &str, spec: &ScheduleSpec, time: DateTime<Utc>) -> Value {
    match spec
        .input
        .as_deref()
        .and_then(|i| serde_json::from_str(i).ok())
    {
        Some(input) => input,
        None => scheduled_event(region, &schedule_arn(region, spec), time),
    }
}

/// Counters of one schedule.
#[derive(Debug, Default)]
pub(crate) struct ScheduleCounters {
    /// Runs started (by the timer or on request), retries not counted.
    pub runs: AtomicU64,
    /// Failed invocations, retries included.
    pub failures: AtomicU64,
    /// Timer runs given up after the last retry.
    pub given_up: AtomicU64,
}

/// One schedule as `GET /@gateway/schedules` lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScheduleInfo {
    /// What `POST /@gateway/schedules/{id}` takes: the event name, or `Function.Event` when
    /// another function has an event of that name.
    pub id: String,
    pub function: String,
    pub event: String,
    /// `Schedule` or `ScheduleV2`.
    pub kind: String,
    pub expression: String,
    pub enabled: bool,
    /// The next timer run (RFC 3339 UTC); `null` when disabled or when timers are off.
    pub next_run: Option<String>,
    pub runs: u64,
    pub failures: u64,
    pub given_up: u64,
}

/// The schedules of the template with their counters and next runs.
pub(crate) fn list(app: &App) -> Vec<ScheduleInfo> {
    let now = Utc::now();
    app.template
        .schedules
        .iter()
        .zip(&app.schedule_counters)
        .map(|(spec, c)| {
            let ambiguous = app
                .template
                .schedules
                .iter()
                .filter(|s| s.name == spec.name)
                .count()
                > 1;
            ScheduleInfo {
                id: if ambiguous {
                    format!("{}.{}", spec.function, spec.name)
                } else {
                    spec.name.clone()
                },
                function: spec.function.clone(),
                event: spec.name.clone(),
                kind: spec.kind.clone(),
                expression: spec.expression.clone(),
                enabled: spec.enabled,
                next_run: (spec.enabled && app.cfg.run_schedules)
                    .then(|| spec.schedule.next_after(app.started_at, now))
                    .flatten()
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
                runs: c.runs.load(Ordering::Relaxed),
                failures: c.failures.load(Ordering::Relaxed),
                given_up: c.given_up.load(Ordering::Relaxed),
            }
        })
        .collect()
}

/// Why `{id}` names no single schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Unknown,
    /// Several functions have an event of that name: `Function.Event` tells them apart.
    Ambiguous(Vec<String>),
}

/// The index of the schedule `{id}` names: an event name, or `Function.Event`.
pub fn find(schedules: &[ScheduleSpec], id: &str) -> Result<usize, Lookup> {
    if let Some((function, event)) = id.split_once('.') {
        return schedules
            .iter()
            .position(|s| s.function == function && s.name == event)
            .ok_or(Lookup::Unknown);
    }
    let found: Vec<usize> = (0..schedules.len())
        .filter(|&i| schedules[i].name == id)
        .collect();
    match found.as_slice() {
        [] => Err(Lookup::Unknown),
        [one] => Ok(*one),
        many => Err(Lookup::Ambiguous(
            many.iter()
                .map(|&i| format!("{}.{}", schedules[i].function, schedules[i].name))
                .collect(),
        )),
    }
}

/// Runs schedule `index` now, once (no retries), with its `Input` or a Scheduled Event whose
/// `time` is now.
pub(crate) async fn run_now(app: &App, index: usize) -> Result<Bytes, InvokeError> {
    let spec = &app.template.schedules[index];
    let counters = &app.schedule_counters[index];
    counters.runs.fetch_add(1, Ordering::Relaxed);
    let event = payload(&app.cfg.region, spec, Utc::now());
    let out = app.invoke(&spec.function, event).await;
    if out.is_err() {
        counters.failures.fetch_add(1, Ordering::Relaxed);
    }
    out
}

/// Starts one timer per enabled schedule (none when `run_schedules` is off); each ends when
/// `stop` turns true.
pub(crate) fn start(app: Arc<App>, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    if !app.cfg.run_schedules {
        return Vec::new();
    }
    (0..app.template.schedules.len())
        .filter(|&i| app.template.schedules[i].enabled)
        .map(|i| {
            let app = app.clone();
            let stop = stop.clone();
            tokio::spawn(async move { timer(app, i, stop).await })
        })
        .collect()
}

async fn timer(app: Arc<App>, index: usize, mut stop: watch::Receiver<bool>) {
    let spec = app.template.schedules[index].clone();
    let mut last = app.started_at;
    loop {
        // Never before the last run's time: a timer that wakes a little early must not run twice.
        let after = Utc::now().max(last);
        let Some(next) = spec.schedule.next_after(app.started_at, after) else {
            tracing::info!(function = %spec.function, schedule = %spec.name, "schedule has no further runs");
            return;
        };
        let wait = next
            .signed_duration_since(Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        last = next;
        app.schedule_counters[index]
            .runs
            .fetch_add(1, Ordering::Relaxed);
        let event = payload(&app.cfg.region, &spec, next);
        let app = app.clone();
        let function = spec.function.clone();
        let label = format!("schedule {}.{}", spec.function, spec.name);
        tokio::spawn(async move {
            let given_up = invoke_async(&app, &function, event, &label, || {
                app.schedule_counters[index]
                    .failures
                    .fetch_add(1, Ordering::Relaxed);
            })
            .await;
            if given_up {
                app.schedule_counters[index]
                    .given_up
                    .fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// An asynchronous invocation as Lambda makes one for EventBridge and SNS: on a function error
/// or a timeout it is retried after each of `async_retry_delays` (Lambda's
/// [`ASYNC_RETRY_DELAYS`]), then given up (logged). `on_failure`
/// is called for each failed attempt. True if it was given up; false if it succeeded or the
/// gateway stopped meanwhile.
pub(crate) async fn invoke_async(
    app: &App,
    function: &str,
    event: Value,
    label: &str,
    on_failure: impl Fn(),
) -> bool {
    let mut stop = app.stop.clone();
    let mut attempt = 0;
    loop {
        match app.invoke(function, event.clone()).await {
            Ok(_) => return false,
            Err(e) => {
                on_failure();
                let Some(delay) = app.cfg.async_retry_delays.get(attempt) else {
                    tracing::error!(%function, source = %label, error = %e, "asynchronous invocation given up after its retries");
                    return true;
                };
                tracing::warn!(%function, source = %label, error = %e, retry_in_s = delay.as_secs(), "asynchronous invocation failed");
                attempt += 1;
                tokio::select! {
                    _ = tokio::time::sleep(*delay) => {}
                    _ = stop.wait_for(|s| *s) => return false,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn days_of_week_count_from_sunday_as_eventbridge_does() {
        // 2026-12-03 is a Thursday.
        let from = at(2026, 12, 3, 12, 0);
        for (dow, day) in [
            ("1", Weekday::Sun),
            ("2", Weekday::Mon),
            ("7", Weekday::Sat),
            ("SUN", Weekday::Sun),
            ("MON-FRI", Weekday::Fri),
        ] {
            let e = Expression::parse(&format!("cron(0 9 ? * {dow} *)")).unwrap();
            let next = e.next_after(from, from).unwrap();
            assert_eq!(next.weekday(), day, "{dow}");
            assert_eq!((next.hour(), next.minute()), (9, 0));
        }
        let monthly = Expression::parse("cron(30 6 15 * ? *)").unwrap();
        assert_eq!(
            monthly.next_after(from, from),
            Some(at(2026, 12, 15, 6, 30))
        );
    }

    #[test]
    fn rates_count_periods_from_the_start() {
        let start = at(2026, 1, 1, 0, 0);
        let e = Expression::parse("rate(5 minutes)").unwrap();
        assert_eq!(e.next_after(start, start), Some(at(2026, 1, 1, 0, 5)));
        assert_eq!(
            e.next_after(start, at(2026, 1, 1, 0, 7)),
            Some(at(2026, 1, 1, 0, 10))
        );
        assert_eq!(
            e.next_after(start, at(2026, 1, 1, 0, 10)),
            Some(at(2026, 1, 1, 0, 15))
        );
    }
}
