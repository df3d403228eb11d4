//! The display manager (the seed's display manager 418, the LCD panel's): the front panel's
//! menus on the LCD.
//!
//! ```text
//! panel keys ──> DisplayActor ── Menu::key ──> Action ──> Installer::perform (a task)
//!                    │  ^                                     │
//!                    │  └──────────── Menu::finish <──────────┘
//!   every 250 ms: Menu::tick (heartbeat, dimming, undo timer), redraw if the screen changed
//!   every 2 s:    Installer::status (a task) ──> Menu::set_status
//! ```
//!
//! The actor owns the [`Menu`] and nothing else; everything that reads or changes the box
//! (store, station, network, DHCP server, restarts) sits behind [`Installer`], which the
//! appliance implements, and runs as a future outside the handler, so a slow `ip` command or
//! a database commit never stalls the keys. The panel itself is the `ivm-lcd` I/O task: when
//! it is absent the actor keeps running and the task reconnects.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::prelude::*;
use futures_util::future::BoxFuture;
use ivm_lcd::io::PanelHandle;
use ivm_lcd::menu::{Action, Menu, MenuConfig, Status};
use ivm_lcd::{KeyEvent, Screen};
use tokio::sync::mpsc;

/// What the panel can read and change; implemented by the appliance.
pub trait Installer: Send + Sync + 'static {
    /// A fresh snapshot for the idle screen and the status pages.
    fn status(&self) -> BoxFuture<'static, Status>;
    /// Carries out a confirmed action: `Ok(text to show)` or `Err(reason to show)`. Texts
    /// should be short: the screen is 20 columns by 3 rows under the title.
    fn perform(&self, action: Action) -> BoxFuture<'static, Result<String, String>>;
}

/// How often the clock ticks (heartbeat, dimming, the network undo timer).
const TICK: Duration = Duration::from_millis(250);
/// How often the status snapshot is refreshed.
const REFRESH: Duration = Duration::from_secs(2);

/// The display actor.
pub struct DisplayActor {
    menu: Menu,
    panel: PanelHandle,
    installer: Arc<dyn Installer>,
    keys: Option<mpsc::Receiver<KeyEvent>>,
    /// What was last handed to the panel task (`None`: hand over the next render).
    shown: Option<Screen>,
    backlight: Option<u8>,
    refreshing: bool,
}

impl DisplayActor {
    /// A display actor over a started panel task (`ivm_lcd::io::spawn`) and its key events.
    pub fn new(
        cfg: MenuConfig,
        panel: PanelHandle,
        keys: mpsc::Receiver<KeyEvent>,
        size: (u8, u8),
        installer: Arc<dyn Installer>,
    ) -> Self {
        DisplayActor {
            menu: Menu::new(cfg, size.0, size.1, Instant::now()),
            panel,
            installer,
            keys: Some(keys),
            shown: None,
            backlight: None,
            refreshing: false,
        }
    }

    /// Hands the current screen and backlight to the panel task when they changed. The task
    /// keeps only the newest screen when the module is slow; a full queue leaves `shown`
    /// stale, so the next tick tries again.
    fn redraw(&mut self) {
        let now = Instant::now();
        let screen = self.menu.render(now);
        if self.shown.as_ref() != Some(&screen) && self.panel.try_show(screen.clone()) {
            self.shown = Some(screen);
        }
        let level = self.menu.backlight(now);
        if self.backlight != Some(level) && self.panel.try_backlight(level) {
            self.backlight = Some(level);
        }
    }

    fn perform(&mut self, action: Action, ctx: &mut Context<Self>) {
        tracing::info!(?action, "panel action confirmed");
        let fut = self.installer.perform(action);
        ctx.spawn(fut.into_actor(self).map(|result, act, ctx| {
            if let Err(e) = &result {
                tracing::warn!(error = %e, "panel action failed");
            }
            act.menu.finish(Instant::now(), result);
            act.redraw();
            // The action changed what the pages show: fetch them again now.
            act.refreshing = false;
            act.refresh(ctx);
        }));
        self.redraw();
    }

    fn refresh(&mut self, ctx: &mut Context<Self>) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        ctx.spawn(
            self.installer
                .status()
                .into_actor(self)
                .map(|status, act, _| {
                    act.refreshing = false;
                    act.menu.set_status(status);
                    act.redraw();
                }),
        );
    }
}

impl Actor for DisplayActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        if let Some(rx) = self.keys.take() {
            ctx.add_stream(futures_util::stream::unfold(rx, |mut rx| async move {
                rx.recv().await.map(|k| (k, rx))
            }));
        }
        self.refresh(ctx);
        self.redraw();
        ctx.run_interval(TICK, |act, ctx| {
            if let Some(action) = act.menu.tick(Instant::now()) {
                act.perform(action, ctx);
            }
            act.redraw();
        });
        ctx.run_interval(REFRESH, |act, ctx| act.refresh(ctx));
    }
}

impl StreamHandler<KeyEvent> for DisplayActor {
    fn handle(&mut self, ev: KeyEvent, ctx: &mut Context<Self>) {
        tracing::debug!(key = ?ev.key, pressed = ev.pressed, "panel key");
        match self.menu.key(Instant::now(), ev) {
            Some(action) => self.perform(action, ctx),
            None => self.redraw(),
        }
    }

    /// The key stream ends only when the panel task stops (the box is going down).
    fn finished(&mut self, _ctx: &mut Context<Self>) {}
}
