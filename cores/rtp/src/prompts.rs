//! The voice prompts, embedded in the binary, and the phrases built from them.
//!
//! The files are made by `assets/prompts/make-prompts.sh` (espeak-ng, then sox to 8 kHz mono
//! 16-bit, band-limited to 300-3400 Hz, silence trimmed) and committed beside it, so a build
//! needs neither tool. Embedding them means the box cannot start with a prompt missing, and a
//! test checks every one decodes. They are decoded to PCM once, on first use.
//!
//! Numbers are spoken from word prompts ("twenty" + "one"); extensions digit by digit
//! ("two zero one").

use std::sync::OnceLock;
use std::time::Duration;

/// Why a prompt could not be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PromptError {
    /// No prompt has this name.
    #[error("no voice prompt named {0:?}")]
    Unknown(String),
}

macro_rules! prompt_files {
    ($($name:literal),* $(,)?) => {
        /// (name, WAV bytes) of every prompt, in [`Prompt`] index order.
        static FILES: &[(&str, &[u8])] = &[
            $(($name, include_bytes!(concat!("../../../assets/prompts/", $name, ".wav")))),*
        ];
    };
}

// Keep in step with make-prompts.sh. The order is the index behind each `Prompt` constant.
prompt_files!(
    "record-after-tone",
    "message-sent",
    "not-sent",
    "no-messages",
    "you-have",
    "new-message",
    "new-messages",
    "message-from",
    "menu",
    "deleted",
    "end-of-messages",
    "goodbye",
    "unknown-extension",
    "extension",
    "star",
    "hundred",
    "num-0",
    "num-1",
    "num-2",
    "num-3",
    "num-4",
    "num-5",
    "num-6",
    "num-7",
    "num-8",
    "num-9",
    "num-10",
    "num-11",
    "num-12",
    "num-13",
    "num-14",
    "num-15",
    "num-16",
    "num-17",
    "num-18",
    "num-19",
    "num-20",
    "num-30",
    "num-40",
    "num-50",
    "num-60",
    "num-70",
    "num-80",
    "num-90",
    "leave-message",
);

/// Index of "num-0" in `FILES`.
const NUM_BASE: u8 = 16;

/// One voice prompt. The constants name them; numbers come from [`Prompt::number`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prompt(u8);

impl Prompt {
    /// "Record your message after the tone. Press pound when done."
    pub const RECORD_AFTER_TONE: Prompt = Prompt(0);
    /// "Message sent."
    pub const MESSAGE_SENT: Prompt = Prompt(1);
    /// "Nothing recorded. Message not sent."
    pub const NOT_SENT: Prompt = Prompt(2);
    /// "You have no new messages."
    pub const NO_MESSAGES: Prompt = Prompt(3);
    /// "You have"
    pub const YOU_HAVE: Prompt = Prompt(4);
    /// "new message."
    pub const NEW_MESSAGE: Prompt = Prompt(5);
    /// "new messages."
    pub const NEW_MESSAGES: Prompt = Prompt(6);
    /// "Message from"
    pub const MESSAGE_FROM: Prompt = Prompt(7);
    /// "Press 1 to replay, 2 for next, 3 to delete, 4 to reply."
    pub const MENU: Prompt = Prompt(8);
    /// "Message deleted."
    pub const DELETED: Prompt = Prompt(9);
    /// "End of messages."
    pub const END_OF_MESSAGES: Prompt = Prompt(10);
    /// "Goodbye."
    pub const GOODBYE: Prompt = Prompt(11);
    /// "Unknown extension."
    pub const UNKNOWN_EXTENSION: Prompt = Prompt(12);
    /// "Extension"
    pub const EXTENSION: Prompt = Prompt(13);
    /// "star"
    pub const STAR: Prompt = Prompt(14);
    /// "hundred"
    pub const HUNDRED: Prompt = Prompt(15);
    /// "Please leave a message after the tone. Press pound when done." (a call that met
    /// busy, no answer or do-not-disturb; after the number words in the file list).
    pub const LEAVE_MESSAGE: Prompt = Prompt(44);

    /// The word for `n`: 0..=20, or a multiple of ten up to 90.
    pub fn number(n: u32) -> Option<Prompt> {
        let i = match n {
            0..=20 => n,
            30 | 40 | 50 | 60 | 70 | 80 | 90 => 20 + (n - 20) / 10,
            _ => return None,
        };
        Some(Prompt(NUM_BASE + i as u8))
    }

    /// Every prompt.
    pub fn all() -> impl Iterator<Item = Prompt> {
        (0..FILES.len() as u8).map(Prompt)
    }

    /// The prompt with this file name (without `.wav`), e.g. `"menu"`, `"num-7"`.
    pub fn by_name(name: &str) -> Result<Prompt, PromptError> {
        FILES
            .iter()
            .position(|(n, _)| *n == name)
            .map(|i| Prompt(i as u8))
            .ok_or_else(|| PromptError::Unknown(name.to_string()))
    }

    /// The file name without `.wav`.
    pub fn name(self) -> &'static str {
        FILES[usize::from(self.0)].0
    }

    /// The embedded WAV file.
    pub fn wav(self) -> &'static [u8] {
        FILES[usize::from(self.0)].1
    }

    /// The prompt as 8 kHz 16-bit PCM (decoded once, then shared).
    pub fn pcm(self) -> &'static [i16] {
        static DECODED: OnceLock<Vec<Vec<i16>>> = OnceLock::new();
        let all = DECODED.get_or_init(|| {
            FILES
                .iter()
                .map(|(_, wav)| match ivm_media::wav_to_pcm(wav) {
                    Ok(p) if p.rate == 8000 => p
                        .samples
                        .iter()
                        .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
                        .collect(),
                    // The test below keeps this from happening in a build.
                    _ => Vec::new(),
                })
                .collect()
        });
        &all[usize::from(self.0)]
    }
}

/// The words for a number: "seven", "twenty one", "three hundred twelve"; 1000 and above
/// digit by digit.
pub fn speak_number(n: u32) -> Vec<Prompt> {
    let num = |k: u32| Prompt::number(k).into_iter();
    match n {
        0..=20 => num(n).collect(),
        21..=99 => match n % 10 {
            0 => num(n).collect(),
            units => num(n - units).chain(num(units)).collect(),
        },
        100..=999 => {
            let mut v: Vec<Prompt> = num(n / 100).collect();
            v.push(Prompt::HUNDRED);
            match n % 100 {
                0 => {}
                rest => v.extend(speak_number(rest)),
            }
            v
        }
        _ => speak_digits(&n.to_string()),
    }
}

/// An extension or dial string digit by digit ("two zero one"); `*` is "star", anything else
/// is skipped.
pub fn speak_digits(digits: &str) -> Vec<Prompt> {
    digits
        .chars()
        .filter_map(|c| match c {
            '0'..='9' => Prompt::number(c as u32 - '0' as u32),
            '*' => Some(Prompt::STAR),
            _ => None,
        })
        .collect()
}

/// "You have N new message(s)." or "You have no new messages."
pub fn you_have(n: u32) -> Vec<Prompt> {
    if n == 0 {
        return vec![Prompt::NO_MESSAGES];
    }
    let mut v = vec![Prompt::YOU_HAVE];
    v.extend(speak_number(n));
    v.push(if n == 1 {
        Prompt::NEW_MESSAGE
    } else {
        Prompt::NEW_MESSAGES
    });
    v
}

/// "Message from extension 2 0 1."
pub fn message_from_extension(extension: &str) -> Vec<Prompt> {
    let mut v = vec![Prompt::MESSAGE_FROM, Prompt::EXTENSION];
    v.extend(speak_digits(extension));
    v
}

/// Pause between the words of a phrase.
const WORD_GAP: Duration = Duration::from_millis(60);

/// Concatenate prompts into one PCM buffer, with a short pause between them.
pub fn render(prompts: &[Prompt]) -> Vec<i16> {
    let gap = (WORD_GAP.as_millis() * 8) as usize;
    let mut out = Vec::new();
    for (i, p) in prompts.iter().enumerate() {
        if i > 0 {
            out.resize(out.len() + gap, 0);
        }
        out.extend_from_slice(p.pcm());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prompt_decodes_to_8khz_speech() {
        let mut total = 0;
        for p in Prompt::all() {
            let info =
                ivm_media::wav_to_pcm(p.wav()).unwrap_or_else(|e| panic!("{}: {e}", p.name()));
            assert_eq!(info.rate, 8000, "{}", p.name());
            let pcm = p.pcm();
            assert!(pcm.len() > 1600, "{} is too short", p.name());
            assert!(pcm.len() < 8000 * 8, "{} is too long", p.name());
            assert!(
                crate::vad::level_db(pcm) > -35.0,
                "{} is too quiet",
                p.name()
            );
            assert_eq!(Prompt::by_name(p.name()), Ok(p));
            total += p.wav().len();
        }
        assert_eq!(Prompt::all().count(), 45);
        assert!(total < 700_000, "prompts take {total} bytes");
        assert_eq!(
            Prompt::by_name("nope"),
            Err(PromptError::Unknown("nope".into()))
        );
        assert_eq!(Prompt::MENU.name(), "menu");
        assert_eq!(Prompt::HUNDRED.name(), "hundred");
        assert_eq!(Prompt::number(0).map(Prompt::name), Some("num-0"));
        assert_eq!(Prompt::number(20).map(Prompt::name), Some("num-20"));
        assert_eq!(Prompt::number(90).map(Prompt::name), Some("num-90"));
        assert_eq!(Prompt::number(21), None);
    }

    fn names(v: &[Prompt]) -> Vec<&'static str> {
        v.iter().map(|p| p.name()).collect()
    }

    #[test]
    fn numbers_and_extensions_are_spoken() {
        assert_eq!(names(&speak_number(7)), ["num-7"]);
        assert_eq!(names(&speak_number(20)), ["num-20"]);
        assert_eq!(names(&speak_number(21)), ["num-20", "num-1"]);
        assert_eq!(names(&speak_number(90)), ["num-90"]);
        assert_eq!(names(&speak_number(312)), ["num-3", "hundred", "num-12"]);
        assert_eq!(names(&speak_number(500)), ["num-5", "hundred"]);
        assert_eq!(
            names(&speak_number(2024)),
            ["num-2", "num-0", "num-2", "num-4"]
        );
        assert_eq!(
            names(&speak_digits("201*3")),
            ["num-2", "num-0", "num-1", "star", "num-3"]
        );
        assert_eq!(names(&you_have(0)), ["no-messages"]);
        assert_eq!(names(&you_have(1)), ["you-have", "num-1", "new-message"]);
        assert_eq!(names(&you_have(3)), ["you-have", "num-3", "new-messages"]);
        assert_eq!(
            names(&message_from_extension("202")),
            ["message-from", "extension", "num-2", "num-0", "num-2"]
        );
        let pcm = render(&you_have(2));
        let parts: usize = you_have(2).iter().map(|p| p.pcm().len()).sum();
        assert_eq!(pcm.len(), parts + 2 * 480);
    }
}
