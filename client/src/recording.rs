//! The recording `ivm send` uploads: a WAV is turned into Ogg Opus here, an Ogg Opus file is
//! checked and sent as it is.
//!
//! Why encode in the client: the box's upload limit (`[limits] max_upload_bytes`, 25 MiB)
//! counts bytes, its length limit (`max_message_seconds`, 600 s) counts seconds, and raw PCM
//! fills the first long before the second: five minutes of 48 kHz mono WAV is 28.8 MB
//! (issue 11, item 7). The same five minutes in Ogg Opus is under 1 MB. The founding document
//! has the client compress before sending, and `ivm_media::prepare_upload` is the box's own
//! pipeline (trim, normalise, Opus at 24 kbit/s), so a message sent by `ivm` is stored
//! byte for byte as the box would have stored the WAV: the box keeps a mono Ogg Opus upload
//! as it is.
//!
//! What can be checked here is checked before anything is sent: the format, that there is
//! sound, and the length against the most any box accepts ([`MAX_SECONDS`]). The box's own
//! length limit is configurable and not published by the API, so going over it is the box's
//! answer to give (it names the limit).
//!
//! Pure apart from the caller's thread: run [`prepare`] with `spawn_blocking` (encoding five
//! minutes takes a good part of a second).

use std::path::{Path, PathBuf};

use ivm_media::{prepare_upload, MediaError, SourceFormat, MAX_SECONDS};

use crate::api::Upload;

/// Why the recording cannot be sent.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// Longer than any box accepts.
    #[error(
        "{path} is about {seconds} s long; no box accepts a message over {max} s (and the \
         box's own limit, `[limits] max_message_seconds`, may be lower)",
        path = .path.display()
    )]
    TooLong {
        /// The file.
        path: PathBuf,
        /// Its length (or a lower bound), in whole seconds.
        seconds: u64,
        /// [`MAX_SECONDS`].
        max: u32,
    },
    /// Not audio the box takes, broken, or silent.
    #[error("{path}: {source}", path = .path.display())]
    Media {
        /// The file.
        path: PathBuf,
        /// What the pipeline said.
        source: MediaError,
    },
}

/// The recording as it will be uploaded.
#[derive(Debug, Clone)]
pub struct Recording {
    /// The Ogg Opus file, its name and type.
    pub upload: Upload,
    /// Playable length.
    pub duration_ms: u32,
    /// Whether it was encoded here (from WAV) rather than sent as it came.
    pub encoded_here: bool,
    /// Size of the file as given.
    pub original_bytes: usize,
}

/// Turns the file at `path` (its `bytes`) into what is uploaded.
///
/// A WAV goes through [`prepare_upload`] and becomes `<stem>.opus`. An Ogg Opus file goes
/// through it too, which reads and decodes every page (so a broken or silent file is refused
/// here), but its own bytes are sent: the box keeps a mono file as it is and downmixes a
/// stereo one itself.
pub fn prepare(path: &Path, bytes: Vec<u8>) -> Result<Recording, RecordingError> {
    let prepared = prepare_upload(&bytes, MAX_SECONDS).map_err(|e| match e {
        MediaError::TooLong { seconds, .. } => RecordingError::TooLong {
            path: path.to_owned(),
            seconds,
            max: MAX_SECONDS,
        },
        source => RecordingError::Media {
            path: path.to_owned(),
            source,
        },
    })?;
    let original_bytes = bytes.len();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "recording".to_owned());
    let (name, bytes, encoded_here) = match prepared.source {
        SourceFormat::Wav => (opus_name(&file_name), prepared.ogg, true),
        SourceFormat::OggOpus => (file_name, bytes, false),
    };
    Ok(Recording {
        upload: Upload {
            name,
            content_type: "audio/ogg".to_owned(),
            bytes,
        },
        duration_ms: prepared.duration_ms,
        encoded_here,
        original_bytes,
    })
}

/// `hello.wav` → `hello.opus`; a name without an extension gets one.
fn opus_name(file_name: &str) -> String {
    let stem = match file_name.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => file_name,
    };
    format!("{stem}.opus")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `seconds` of a 440 Hz tone at -12 dBFS, 48 kHz mono, as a WAV.
    fn tone_wav(seconds: u32) -> Vec<u8> {
        let rate = 48_000u32;
        let samples: Vec<i16> = (0..rate * seconds)
            .map(|i| {
                let t = f64::from(i) / f64::from(rate);
                ((t * 440.0 * std::f64::consts::TAU).sin() * 8_000.0) as i16
            })
            .collect();
        ivm_media::encode_wav_mono(&samples, rate).expect("wav")
    }

    #[test]
    fn a_wav_becomes_the_ogg_opus_the_box_would_store() {
        let wav = tone_wav(3);
        let r = prepare(Path::new("dir/hello.wav"), wav.clone()).expect("prepared");
        assert!(r.encoded_here);
        assert_eq!(r.upload.name, "hello.opus");
        assert_eq!(r.upload.content_type, "audio/ogg");
        assert_eq!(r.original_bytes, wav.len());
        assert!(r.upload.bytes.starts_with(b"OggS"));
        // Byte for byte what the box makes of the same WAV.
        let boxed = prepare_upload(&wav, 600).expect("box");
        assert_eq!(r.upload.bytes, boxed.ogg);
        assert!(
            (2_900..=3_100).contains(&r.duration_ms),
            "{}",
            r.duration_ms
        );
        // And the box keeps that Ogg Opus as it is.
        let again = prepare_upload(&r.upload.bytes, 600).expect("box takes it");
        assert_eq!(again.ogg, r.upload.bytes);
        assert!(r.upload.bytes.len() * 10 < wav.len(), "Opus is far smaller");
    }

    #[test]
    fn an_ogg_opus_file_is_sent_as_it_is() {
        let ogg = prepare_upload(&tone_wav(2), 600).expect("ogg").ogg;
        let r = prepare(Path::new("note.ogg"), ogg.clone()).expect("prepared");
        assert!(!r.encoded_here);
        assert_eq!(r.upload.name, "note.ogg");
        assert_eq!(r.upload.bytes, ogg);
    }

    #[test]
    fn what_the_box_would_refuse_is_refused_here_with_the_file_named() {
        let pdf = prepare(Path::new("menu.pdf"), b"%PDF-1.7 ...".to_vec()).expect_err("pdf");
        let text = pdf.to_string();
        assert!(text.starts_with("menu.pdf: unsupported audio"), "{text}");
        let silent = ivm_media::encode_wav_mono(&[0i16; 48_000], 48_000).expect("wav");
        let e = prepare(Path::new("quiet.wav"), silent).expect_err("silence");
        assert_eq!(e.to_string(), "quiet.wav: the recording holds no sound");
        let empty = prepare(Path::new("empty.wav"), Vec::new()).expect_err("empty");
        assert!(matches!(empty, RecordingError::Media { .. }));
    }

    #[test]
    fn longer_than_any_box_takes_is_refused_unread() {
        // 3,700 s of 8 kHz 8-bit silence (the smallest WAV a box takes, 29.6 MB): refused by
        // its length before anything is decoded, so the "no sound" check never runs.
        let seconds = 3_700u32;
        let data_len = seconds * 8_000;
        let mut wav = Vec::with_capacity(44 + data_len as usize);
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data_len).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&1u16.to_le_bytes()); // mono
        wav.extend_from_slice(&8_000u32.to_le_bytes());
        wav.extend_from_slice(&8_000u32.to_le_bytes()); // bytes per second
        wav.extend_from_slice(&1u16.to_le_bytes()); // block align
        wav.extend_from_slice(&8u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&data_len.to_le_bytes());
        wav.resize(44 + data_len as usize, 0x80);
        let e = prepare(Path::new("long.wav"), wav).expect_err("too long");
        assert!(
            matches!(
                e,
                RecordingError::TooLong {
                    seconds: 3_700,
                    max: MAX_SECONDS,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("max_message_seconds"), "{e}");
    }

    #[test]
    fn opus_names() {
        assert_eq!(opus_name("hello.wav"), "hello.opus");
        assert_eq!(opus_name("a.b.WAV"), "a.b.opus");
        assert_eq!(opus_name("take1"), "take1.opus");
        assert_eq!(opus_name(".wav"), ".wav.opus");
    }
}
