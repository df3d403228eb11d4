//! `ivm forward [always|busy|noanswer EXT [--after N] | off [KIND]]`, `ivm dnd [on|off]` and
//! `ivm voicemail [on|off]`: my call settings, through `PATCH /api/me/settings` (the box
//! checks each extension).

use ivm_wire::rest::{CallSettingsView, PatchCallSettings};

use crate::cli::{DndArgs, ForwardArgs, ForwardSet, VoicemailArgs};
use crate::context::Context;
use crate::output;

/// Sets a forward, or shows my call settings.
pub async fn forward(ctx: &Context, args: ForwardArgs) -> anyhow::Result<()> {
    let Some(set) = args.set else {
        return show(&ctx.api.settings().await?);
    };
    let off = || Some(String::new());
    let patch = match set {
        ForwardSet::Always { ext } => PatchCallSettings {
            forward_always: Some(ext),
            ..PatchCallSettings::default()
        },
        ForwardSet::Busy { ext } => PatchCallSettings {
            forward_busy: Some(ext),
            ..PatchCallSettings::default()
        },
        ForwardSet::NoAnswer { ext, after } => PatchCallSettings {
            forward_no_answer: Some(ext),
            no_answer_after: after,
            ..PatchCallSettings::default()
        },
        ForwardSet::Off { kind } => {
            let all = kind.is_none();
            let is = |k: &str| all || kind.as_deref() == Some(k);
            PatchCallSettings {
                forward_always: is("always").then(off).flatten(),
                forward_busy: is("busy").then(off).flatten(),
                forward_no_answer: is("noanswer").then(off).flatten(),
                ..PatchCallSettings::default()
            }
        }
    };
    show(&ctx.api.patch_settings(&patch).await?)
}

/// Sets do-not-disturb, or shows it.
pub async fn dnd(ctx: &Context, args: DndArgs) -> anyhow::Result<()> {
    let view = switch(ctx, args.state.as_deref(), |on| PatchCallSettings {
        dnd: Some(on),
        ..PatchCallSettings::default()
    })
    .await?;
    output::line(if view.dnd { "on" } else { "off" })?;
    Ok(())
}

/// Sets message taking on busy and no answer, or shows it.
pub async fn voicemail(ctx: &Context, args: VoicemailArgs) -> anyhow::Result<()> {
    let view = switch(ctx, args.state.as_deref(), |on| PatchCallSettings {
        voicemail: Some(on),
        ..PatchCallSettings::default()
    })
    .await?;
    output::line(if view.settings.voicemail { "on" } else { "off" })?;
    Ok(())
}

/// An on/off setting: `state` ("on" or "off") patched through `patch`, or, without it, the
/// settings as they are.
async fn switch(
    ctx: &Context,
    state: Option<&str>,
    patch: impl FnOnce(bool) -> PatchCallSettings,
) -> anyhow::Result<CallSettingsView> {
    Ok(match state {
        None => ctx.api.settings().await?,
        Some(state) => ctx.api.patch_settings(&patch(state == "on")).await?,
    })
}

/// One line per setting, `name value` (`off` for no forward).
fn show(v: &CallSettingsView) -> anyhow::Result<()> {
    let s = &v.settings;
    let or_off = |f: &Option<String>| f.clone().unwrap_or_else(|| "off".into());
    output::line(&format!("always {}", or_off(&s.forward_always)))?;
    output::line(&format!("busy {}", or_off(&s.forward_busy)))?;
    output::line(&format!(
        "noanswer {} after {} s",
        or_off(&s.forward_no_answer),
        s.no_answer_after
    ))?;
    output::line(&format!(
        "voicemail {}",
        if s.voicemail { "on" } else { "off" }
    ))?;
    output::line(&format!("dnd {}", if v.dnd { "on" } else { "off" }))?;
    Ok(())
}
