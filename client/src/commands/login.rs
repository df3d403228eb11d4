//! `ivm login`, `ivm logout`, `ivm whoami`, `ivm passwd`.

use crate::cli::{Global, PasswdArgs};
use crate::context::{self, Context, ContextError};
use crate::session;
use crate::{output, prompt};

/// Logs in and saves the session (mode 0600).
pub async fn login(global: &mut Global) -> anyhow::Result<()> {
    let (saved, path, must_change) = context::login_and_save_or_ask(global).await?;
    eprintln!(
        "ivm: logged in as {} on {} (saved in {})",
        saved.user,
        saved.server,
        path.display()
    );
    if must_change {
        eprintln!("ivm: {}", crate::api::PASSWORD_CHANGE_REQUIRED);
    }
    Ok(())
}

/// Changes the user's own password. The current one is `--password` (or `IVM_PASSWORD`),
/// the new one `--new` (or `IVM_NEW_PASSWORD`); either missing is asked for on the terminal
/// (the new one twice), or refused without one. The session used (saved or on the fly)
/// stays, the user's other sessions end.
pub async fn passwd(ctx: &Context, global: &Global, args: PasswdArgs) -> anyhow::Result<()> {
    let current = match &global.password {
        Some(p) => p.clone(),
        None if prompt::can_ask() => prompt::ask(format!("Current password for {}: ", ctx.user))
            .await
            .map_err(ContextError::from)?,
        None => return Err(ContextError::NoCurrentPassword.into()),
    };
    let new = match args.new_password {
        Some(p) => p,
        None if prompt::can_ask() => prompt::ask_new(&format!("New password for {}", ctx.user))
            .await
            .map_err(ContextError::from)?,
        None => return Err(ContextError::NoNewPassword.into()),
    };
    ctx.api.change_password(&current, &new).await?;
    eprintln!(
        "ivm: password changed for {}; your other sessions have ended",
        ctx.user
    );
    Ok(())
}

/// Ends the saved session on the box (best effort) and forgets it here.
pub async fn logout(global: &Global) -> anyhow::Result<()> {
    let home = session::ivm_home()?;
    let Some(saved) = session::load(&home)? else {
        eprintln!("ivm: not logged in");
        return Ok(());
    };
    let tls = match global.cacert.clone().or(saved.cacert.clone()) {
        Some(p) => Some(crate::tls::client_config(&p)?),
        None => None,
    };
    let api = crate::api::Api::new(&saved.server, tls)?.with_token(saved.token);
    // Forget the token here whatever the box says: a token the box already dropped, or a box
    // that is down, must not keep the user "logged in" locally.
    if let Err(e) = api.logout().await {
        eprintln!("ivm: warning: the server did not confirm the logout: {e}");
    }
    session::remove(&home)?;
    Ok(())
}

/// Prints who the session belongs to.
pub async fn whoami(ctx: &Context) -> anyhow::Result<()> {
    let me = ctx.api.me().await?;
    output::line(&format!(
        "{} ({}), extension {}, {} on {}",
        me.name,
        me.display_name,
        me.extension,
        me.status.as_str(),
        ctx.api.base()
    ))?;
    Ok(())
}
