//! Counting what crosses a transport, the same way for every protocol the benchmarks compare:
//! round trips attempted, HTTP body bytes sent (every attempt, even one cut off on the way)
//! and body bytes received (whole answers only).

use provide_core::sync::transport::Transport;
use provide_core::Result;

/// What a `Metered` transport has counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Meter {
    pub round_trips: u64,
    /// Round trips that failed (no answer arrived).
    pub failed: u64,
    pub bytes_up: u64,
    pub bytes_down: u64,
}

impl Meter {
    pub fn bytes(&self) -> u64 {
        self.bytes_up + self.bytes_down
    }
}

/// Wraps a transport and counts through it.
pub struct Metered<T: Transport> {
    pub inner: T,
    pub meter: Meter,
}

impl<T: Transport> Metered<T> {
    pub fn new(inner: T) -> Self {
        Metered {
            inner,
            meter: Meter::default(),
        }
    }

    /// The counts so far, and starts again from zero.
    pub fn take(&mut self) -> Meter {
        std::mem::take(&mut self.meter)
    }
}

impl<T: Transport> Transport for Metered<T> {
    fn post(&mut self, path: &str, body: &[u8], credential: Option<&str>) -> Result<Vec<u8>> {
        self.meter.round_trips += 1;
        self.meter.bytes_up += body.len() as u64;
        match self.inner.post(path, body, credential) {
            Ok(answer) => {
                self.meter.bytes_down += answer.len() as u64;
                Ok(answer)
            }
            Err(e) => {
                self.meter.failed += 1;
                Err(e)
            }
        }
    }

    fn get(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        credential: Option<&str>,
    ) -> Result<Vec<u8>> {
        self.meter.round_trips += 1;
        match self.inner.get(path, query, credential) {
            Ok(answer) => {
                self.meter.bytes_down += answer.len() as u64;
                Ok(answer)
            }
            Err(e) => {
                self.meter.failed += 1;
                Err(e)
            }
        }
    }

    fn reference_tag(&self) -> Option<String> {
        self.inner.reference_tag()
    }
}
