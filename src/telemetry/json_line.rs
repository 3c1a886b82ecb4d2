//! The log line format: one flat JSON object per event, carrying the event's fields, those
//! of every span it happened in, and those of the request it was logged for (so each line
//! inside a request has its `request_id`), written into a byte buffer of the thread's own
//! without building an intermediate document, then handed to the subscriber's writer in
//! one piece.

use std::cell::Cell;
use std::fmt;

use crate::domain::timestamp::rfc3339_micros;
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// Formats fields as JSON members, `"name":value` separated by commas, without braces:
/// the pieces a [`JsonLine`] joins into one object.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonMembers;

/// The event format: `{"timestamp":…,"level":…,"target":…,<event fields>,<span fields>,
/// <request fields>}`, spans outermost first; see `telemetry::request`.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLine;

/// Writes `value` as JSON (strings escaped, non-finite numbers as `null`) onto `out`.
pub(super) fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing to a `Vec` cannot fail, and every value a field holds serializes.
    let _ = serde_json::to_writer(out, value);
}

/// Hands a finished piece of text to the subscriber's writer.
fn emit(writer: &mut Writer<'_>, bytes: &[u8]) -> fmt::Result {
    writer.write_str(std::str::from_utf8(bytes).map_err(|_| fmt::Error)?)
}

struct MemberWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Whether a member precedes the next one, which then needs a comma.
    after_member: bool,
}

impl MemberWriter<'_> {
    fn member<T: Serialize + ?Sized>(&mut self, field: &Field, value: &T) {
        if self.after_member {
            self.out.push(b',');
        }
        self.after_member = true;
        self.out.push(b'"');
        self.out.extend_from_slice(field.name().as_bytes());
        self.out.extend_from_slice(b"\":");
        write_json(self.out, value);
    }
}

impl Visit for MemberWriter<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.member(field, &value);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, &value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, &value);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, &value);
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, value);
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, &format_args!("{value:?}"));
    }
}

/// Runs `f` on an empty buffer, this thread's own when it has one to lend.
fn with_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    let mut buffer = BUFFER.try_with(Cell::take).unwrap_or_default();
    buffer.clear();
    let result = f(&mut buffer);
    let _ = BUFFER.try_with(|b| b.set(buffer));
    result
}

impl<'w> FormatFields<'w> for JsonMembers {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'w>, fields: R) -> fmt::Result {
        let mut out = Vec::new();
        fields.record(&mut MemberWriter {
            out: &mut out,
            after_member: false,
        });
        emit(&mut writer, &out)
    }

    fn add_fields(
        &self,
        current: &'w mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut out = Vec::new();
        fields.record(&mut MemberWriter {
            out: &mut out,
            after_member: !current.fields.is_empty(),
        });
        emit(&mut current.as_writer(), &out)
    }
}

impl<S> FormatEvent<S, JsonMembers> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonMembers>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let now = rfc3339_micros(time::OffsetDateTime::now_utc()).ok_or(fmt::Error)?;
        with_buffer(|out| {
            out.extend_from_slice(b"{\"timestamp\":\"");
            out.extend_from_slice(&now);
            out.extend_from_slice(b"\",\"level\":\"");
            out.extend_from_slice(meta.level().as_str().as_bytes());
            out.extend_from_slice(b"\",\"target\":");
            write_json(out, meta.target());
            event.record(&mut MemberWriter {
                out,
                after_member: true,
            });
            if let Some(scope) = ctx.event_scope() {
                for span in scope.from_root() {
                    let extensions = span.extensions();
                    if let Some(fields) = extensions.get::<FormattedFields<JsonMembers>>()
                        && !fields.fields.is_empty()
                    {
                        out.push(b',');
                        out.extend_from_slice(fields.fields.as_bytes());
                    }
                }
            }
            super::request::with_current(|r| r.write_members(out));
            out.extend_from_slice(b"}\n");
            emit(&mut writer, out)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Runs `f` under a subscriber with this format and returns the lines it wrote.
    fn lines_of(f: impl FnOnce()) -> Vec<String> {
        let buffer = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = Arc::clone(&buffer);
        let layer = tracing_subscriber::fmt::layer()
            .fmt_fields(JsonMembers)
            .event_format(JsonLine)
            .with_writer(move || Capture(Arc::clone(&sink)));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buffer.lock().expect("buffer").clone();
        String::from_utf8(bytes)
            .expect("utf-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("buffer").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn parsed(line: &str) -> Value {
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    #[test]
    fn an_event_carries_its_fields_and_those_of_every_enclosing_span() {
        let lines = lines_of(|| {
            let request = tracing::info_span!("request", request_id = "req_1");
            let _r = request.enter();
            let update = tracing::info_span!("update", connector_id = "con_2", rotated = 3u64);
            let _u = update.enter();
            tracing::warn!(status = 409u64, "connector updated");
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line = parsed(&lines[0]);
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["message"], "connector updated");
        assert_eq!(line["status"], 409);
        assert_eq!(line["request_id"], "req_1");
        assert_eq!(line["connector_id"], "con_2");
        assert_eq!(line["rotated"], 3);
        let stamp = line["timestamp"].as_str().expect("timestamp");
        let parsed =
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339);
        assert!(parsed.is_ok(), "{stamp}");
    }

    #[test]
    fn values_are_escaped_and_typed_as_json() {
        let awkward = "quote \" backslash \\ newline \n bell \u{7} é";
        let lines = lines_of(|| {
            tracing::info!(
                text = awkward,
                debug = ?("a\"b", 1),
                shown = %"tab\there",
                ratio = 0.5f64,
                nan = f64::NAN,
                below = -3i64,
                ok = true,
                "message with \"quotes\""
            );
        });
        let line = parsed(&lines[0]);
        assert_eq!(line["text"], awkward);
        assert_eq!(line["debug"], "(\"a\\\"b\", 1)");
        assert_eq!(line["shown"], "tab\there");
        assert_eq!(line["ratio"], 0.5);
        assert_eq!(line["nan"], Value::Null);
        assert_eq!(line["below"], -3);
        assert_eq!(line["ok"], true);
        assert_eq!(line["message"], "message with \"quotes\"");
    }

    #[test]
    fn fields_recorded_on_a_span_later_join_its_others() {
        let lines = lines_of(|| {
            let span = tracing::info_span!(
                "request",
                request_id = "req_9",
                tenant = tracing::field::Empty
            );
            let _s = span.enter();
            tracing::info!("before");
            span.record("tenant", "acme");
            tracing::info!("after");
        });
        let (before, after) = (parsed(&lines[0]), parsed(&lines[1]));
        assert_eq!(before.get("tenant"), None);
        assert_eq!(before["request_id"], "req_9");
        assert_eq!(
            (after["request_id"].clone(), after["tenant"].clone()),
            (json!("req_9"), json!("acme"))
        );
    }

    /// Runs `request` to completion on a runtime of its own.
    fn block_on(request: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(request);
    }

    #[test]
    fn lines_inside_a_request_carry_its_id_then_its_route_and_tenant_once_noted() {
        let lines = lines_of(|| {
            block_on(crate::telemetry::in_request("req_7".into(), None, async {
                tracing::info!("arrived");
                crate::telemetry::note_route("/api/v2/connectors/{connector_id}");
                crate::telemetry::note_tenant("acme");
                crate::telemetry::note_tenant("someone-else");
                tokio::task::yield_now().await;
                tracing::info!(status = 200u64, "request");
            }));
            tracing::info!("after the request");
        });
        let (arrived, done, after) = (parsed(&lines[0]), parsed(&lines[1]), parsed(&lines[2]));
        assert_eq!(arrived["request_id"], "req_7");
        assert_eq!((arrived.get("tenant"), arrived.get("route")), (None, None));
        assert_eq!(done["request_id"], "req_7");
        assert_eq!(done["tenant"], "acme", "the first tenant noted stands");
        assert_eq!(done["route"], "/api/v2/connectors/{connector_id}");
        assert_eq!(done["status"], 200);
        assert_eq!(after.get("request_id"), None);
    }

    #[test]
    fn two_requests_on_one_thread_keep_their_own_ids() {
        let lines = lines_of(|| {
            block_on(async {
                let first = crate::telemetry::in_request("req_a".into(), None, async {
                    tokio::task::yield_now().await;
                    tracing::info!(which = "a", "done");
                });
                let second = crate::telemetry::in_request("req_b".into(), None, async {
                    tokio::task::yield_now().await;
                    tracing::info!(which = "b", "done");
                });
                tokio::join!(first, second);
            });
        });
        let mut ids: Vec<(String, String)> = lines
            .iter()
            .map(|l| parsed(l))
            .map(|l| (l["which"].to_string(), l["request_id"].to_string()))
            .collect();
        ids.sort();
        assert_eq!(
            ids,
            [("a", "req_a"), ("b", "req_b")]
                .map(|(w, id)| (json!(w).to_string(), json!(id).to_string()))
        );
    }

    #[test]
    fn an_event_outside_any_span_has_only_its_own_fields() {
        let lines = lines_of(|| tracing::error!(code = "x", "alone"));
        let line = parsed(&lines[0]);
        let keys: Vec<&str> = line
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 5, "{keys:?}");
        assert_eq!(line["code"], "x");
    }
}
