//! The engine's one start and one stop against a real store in a temporary folder: services
//! handed over after the start run under the engine's token, parts started with a child of
//! that token stop with it, one `Shutdown` ends them all, and a service handed over once the
//! stop has begun is not started.

use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ivm_actors::engine::{Engine, EngineConfig, Launch, Shutdown};
use ivm_service::{CancellationToken, Service};
use ivm_store::Store;
use tokio::sync::mpsc;

/// Notes when it starts and when it has finished stopping.
struct Probe {
    name: &'static str,
    events: mpsc::UnboundedSender<String>,
}

impl Service for Probe {
    fn name(&self) -> &'static str {
        self.name
    }

    fn run(self: Box<Self>, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let _ = self.events.send(format!("{} started", self.name));
            shutdown.cancelled().await;
            // In-flight work finishing after the cancel, within the grace.
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = self.events.send(format!("{} stopped", self.name));
        })
    }
}

async fn next(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event in time")
        .expect("open")
}

#[actix::test]
async fn one_stop_ends_every_service_and_every_part() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Arc::new(Store::open(dir.path()).expect("store"));
    let (engine, handles) = Engine::start(store, EngineConfig::default());
    let (tx, mut rx) = mpsc::unbounded_channel();

    engine
        .send(Launch(vec![Box::new(Probe {
            name: "first",
            events: tx.clone(),
        })]))
        .await
        .expect("engine");
    assert_eq!(next(&mut rx).await, "first started");
    // A part started by the binary under a child of the engine's token (as the DHCP control
    // and the front panel are), handed over later.
    let part = handles.stop.child_token();
    let part_task = tokio::spawn({
        let part = part.clone();
        async move { part.cancelled().await }
    });
    engine
        .send(Launch(vec![Box::new(Probe {
            name: "second",
            events: tx.clone(),
        })]))
        .await
        .expect("engine");
    assert_eq!(next(&mut rx).await, "second started");
    assert!(!part.is_cancelled());

    engine.send(Shutdown).await.expect("engine");
    // Shutdown returns once every service has stopped: both already said so.
    let mut stopped = vec![
        rx.try_recv().expect("a service stopped"),
        rx.try_recv().expect("a service stopped"),
    ];
    stopped.sort();
    assert_eq!(stopped, ["first stopped", "second stopped"]);
    assert!(
        handles.stop.is_cancelled(),
        "the engine's one token is cancelled"
    );
    tokio::time::timeout(Duration::from_secs(5), part_task)
        .await
        .expect("the part stops with the engine")
        .expect("part task");

    // Too late: the stop has begun, nothing new starts.
    engine
        .send(Launch(vec![Box::new(Probe {
            name: "late",
            events: tx,
        })]))
        .await
        .expect("engine");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.try_recv().is_err(), "a late service was started");
}
