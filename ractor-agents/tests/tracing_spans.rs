//! The handler's span is a child of the sender's span and is labelled with the receiving agent.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_agents::prelude::*;
use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone)]
struct SpanRecord {
    name: &'static str,
    parent: Option<&'static str>,
    parent_fields: Vec<(String, String)>,
    fields: Vec<(String, String)>,
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<SpanRecord>>>);

struct Fields(Vec<(String, String)>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}").trim_matches('"').to_owned()));
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Fields(Vec::new());
        attrs.record(&mut fields);
        let span = ctx.span(id).expect("span exists");
        let parent = span.parent();
        let parent_fields =
            parent.as_ref().and_then(|p| p.extensions().get::<Vec<(String, String)>>().cloned()).unwrap_or_default();
        span.extensions_mut().insert(fields.0.clone());
        self.0.lock().unwrap().push(SpanRecord {
            name: attrs.metadata().name(),
            parent: parent.map(|p| p.name()),
            parent_fields,
            fields: fields.0,
        });
    }
}

struct Echo;

impl Agent for Echo {
    type Msg = Reply<()>;
    async fn handle(&mut self, _ctx: &Ctx<Self>, reply: Reply<()>) -> Result<(), AgentFailure> {
        reply.send(());
        Ok(())
    }
    fn message_name(_msg: &Reply<()>) -> &'static str {
        "echo"
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

#[test]
fn the_handler_span_is_a_child_of_the_senders_span_and_names_the_receiver() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    // A current-thread runtime keeps every span on this thread's default subscriber.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let receiver = ractor_agents::spawn("receiver", Echo).await.unwrap();
        let request = tracing::info_span!("http.request", route = "/echo");
        let _entered = request.enter();
        receiver.call(|r| r).deadline(Duration::from_secs(1)).await.unwrap();
    });
    let spans = capture.0.lock().unwrap().clone();
    let handler = spans.iter().find(|s| s.name == "agent.handle").expect("a handler span");
    assert_eq!(handler.parent, Some("http.request"), "{spans:#?}");
    assert_eq!(field(&handler.parent_fields, "route"), Some("/echo"));
    assert_eq!(field(&handler.fields, "agent"), Some("receiver"));
    assert_eq!(field(&handler.fields, "message"), Some("echo"));
    assert_eq!(field(&handler.fields, "otel.name"), Some("receiver echo"));
    assert_eq!(field(&handler.fields, "trace_id").map(str::len), Some(32));
}
