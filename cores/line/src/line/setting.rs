//! Call settings from the keypad (`*21`, `*67`, `*61` forwards, `*24`/`*25` do-not-disturb):
//! the adapter stores the change first, then the box answers with a confirmation tone (or
//! the error tone: no user has that extension) and hangs up. The call is answered only
//! after the change is stored, so a phone that hears the confirmation knows it holds.

use super::{Cx, Event, State};
use crate::action::{Action, Reason, SettingChange, Sound};
use crate::input::Input;

/// The states of a keypad setting.
pub(crate) enum Setting {
    /// The adapter stores the change.
    Changing,
    /// The confirmation (or error) tone plays; then hang up.
    Confirming,
}

impl Setting {
    /// A setting code was dialled: store the change.
    pub fn start(cx: &mut Cx, change: SettingChange) -> State {
        tracing::info!(?change, "call setting from the keypad");
        cx.act(Action::ChangeSetting {
            user: cx.party.user,
            change,
        });
        State::Setting(Setting::Changing)
    }

    pub fn handle(self, cx: &mut Cx, ev: Event) -> State {
        let Event::Input(input) = ev else {
            return State::Setting(self);
        };
        match (self, input) {
            (Setting::Changing, Input::SettingChanged(result)) => {
                let sound = match result {
                    Ok(()) => Sound::ConfirmTone,
                    Err(e) => {
                        tracing::info!(error = %e, "call setting refused");
                        Sound::ErrorTone
                    }
                };
                cx.act(Action::Answer);
                cx.act(Action::Play(sound));
                State::Setting(Setting::Confirming)
            }
            (Setting::Changing, Input::Cancelled) => cx.reject(Reason::Cancelled),
            (_, Input::AnswerFailed(reason)) => cx.reject(reason),
            (Setting::Confirming, Input::PlaybackDone) => cx.release(),
            (_, Input::HungUp | Input::MediaInactive | Input::Cancelled) => cx.release(),
            (state, _) => State::Setting(state),
        }
    }
}
