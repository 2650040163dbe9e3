//! TEMPORARY plumbing API: proves the Kotlin, Swift and Python toolchains end to end
//! (`bindings/tests/bindings.rs` drives the foreign suites under `bindings/tests/`).
//!
//! It exercises each kind of thing the real API needs: a plain call, an object with methods, a
//! typed error, a panic that must arrive as a foreign exception (never a crash), a foreign
//! progress callback and a cancellable long call. Replace this module (and the foreign suites'
//! calls into it) when the real API over `outreach-core` lands; keep the patterns.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Public error of the plumbing API. Variants carry no personal data by construction.
#[derive(Debug, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlumbingError {
    #[error("invalid input: {reason}")]
    InvalidInput { reason: String },
    #[error("cancelled after {completed} steps")]
    Cancelled { completed: u32 },
}

/// Version of this crate, so foreign tests can check they loaded the library they expect.
#[uniffi::export]
pub fn ffi_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Integer division with a typed error instead of a panic on a zero divisor.
#[uniffi::export]
pub fn checked_divide(dividend: i64, divisor: i64) -> Result<i64, PlumbingError> {
    if divisor == 0 {
        return Err(PlumbingError::InvalidInput {
            reason: "divisor must not be zero".to_string(),
        });
    }
    dividend
        .checked_div(divisor)
        .ok_or_else(|| PlumbingError::InvalidInput {
            reason: "quotient overflows i64".to_string(),
        })
}

/// Panics on purpose, inside Rust. uniffi catches the unwind at the FFI boundary and hands the
/// foreign side an internal error (Kotlin `InternalException`, Swift
/// `UniffiInternalError.rustPanic`, Python `InternalError`). Declared fallible so the Swift
/// wrapper is `throws` (see the crate docs).
#[uniffi::export]
pub fn provoke_panic(message: String) -> Result<String, PlumbingError> {
    panic!("provoked panic: {message}")
}

/// A small stateful object, to prove object lifetimes and methods across the FFI.
#[derive(Debug, uniffi::Object)]
pub struct Tally {
    label: String,
    total: Mutex<u64>,
}

#[uniffi::export]
impl Tally {
    #[uniffi::constructor]
    pub fn new(label: String) -> Arc<Self> {
        Arc::new(Self {
            label,
            total: Mutex::new(0),
        })
    }

    pub fn label(&self) -> String {
        self.label.clone()
    }

    /// Adds `amount` (must be > 0) and returns the new total.
    pub fn add(&self, amount: u32) -> Result<u64, PlumbingError> {
        if amount == 0 {
            return Err(PlumbingError::InvalidInput {
                reason: "amount must be positive".to_string(),
            });
        }
        let mut total = self.total.lock().unwrap_or_else(|p| p.into_inner());
        *total += u64::from(amount);
        Ok(*total)
    }

    pub fn total(&self) -> u64 {
        *self.total.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Progress of long work, implemented by the foreign side (Kotlin/Swift/Python).
/// Must not call back into the same store from inside the callback (it would deadlock).
#[uniffi::export(with_foreign)]
pub trait ProgressListener: Send + Sync {
    fn on_progress(&self, completed: u32, total: u32);
}

/// Cooperative cancellation shared between the caller and long work. May be cancelled from any
/// thread, including from inside a progress callback.
#[derive(Debug, Default, uniffi::Object)]
pub struct CancelToken {
    cancelled: AtomicBool,
}

#[uniffi::export]
impl CancelToken {
    #[uniffi::constructor]
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }
}

pub const MAX_STEPS: u32 = 1_000_000;
pub const MAX_STEP_MILLIS: u32 = 1_000;

/// Long, cancellable work: `steps` steps of `step_millis` ms each, reporting progress after
/// each step. Checks `cancel` before every step; returns the number of steps completed, or
/// `Cancelled { completed }` once cancelled.
#[uniffi::export]
pub fn run_job(
    steps: u32,
    step_millis: u32,
    listener: Arc<dyn ProgressListener>,
    cancel: Arc<CancelToken>,
) -> Result<u32, PlumbingError> {
    if steps > MAX_STEPS || step_millis > MAX_STEP_MILLIS {
        return Err(PlumbingError::InvalidInput {
            reason: format!("at most {MAX_STEPS} steps of at most {MAX_STEP_MILLIS} ms"),
        });
    }
    for done in 0..steps {
        if cancel.is_cancelled() {
            return Err(PlumbingError::Cancelled { completed: done });
        }
        if step_millis > 0 {
            std::thread::sleep(Duration::from_millis(u64::from(step_millis)));
        }
        listener.on_progress(done + 1, steps);
    }
    // A cancel that arrives during the last step is too late: the work is done.
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    struct Count(AtomicU32, Option<(u32, Arc<CancelToken>)>);
    impl ProgressListener for Count {
        fn on_progress(&self, completed: u32, _total: u32) {
            self.0.store(completed, Ordering::SeqCst);
            if let Some((at, token)) = &self.1 {
                if completed == *at {
                    token.cancel();
                }
            }
        }
    }

    #[test]
    fn run_job_reports_and_cancels() {
        let token = CancelToken::new();
        let l = Arc::new(Count(AtomicU32::new(0), Some((3, token.clone()))));
        assert_eq!(
            run_job(10, 0, l.clone(), token),
            Err(PlumbingError::Cancelled { completed: 3 })
        );
        assert_eq!(l.0.load(Ordering::SeqCst), 3);
        let l = Arc::new(Count(AtomicU32::new(0), None));
        assert_eq!(run_job(4, 0, l.clone(), CancelToken::new()), Ok(4));
        assert_eq!(l.0.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn provoke_panic_panics() {
        assert!(std::panic::catch_unwind(|| provoke_panic("x".into())).is_err());
        assert_eq!(checked_divide(7, 2), Ok(3));
        assert!(checked_divide(7, 0).is_err());
    }
}
