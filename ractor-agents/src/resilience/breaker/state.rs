//! The circuit's state and the one-word encoding the hot path reads.

use std::fmt;

/// Where a circuit is.
///
/// | state | calls | leaves when |
/// |---|---|---|
/// | `Closed` | all admitted, outcomes recorded in the window | the window holds the minimum calls and a rate reaches its threshold → `Open` |
/// | `Open` | rejected | the break has elapsed (checked by the next call) → `HalfOpen` |
/// | `HalfOpen` | up to the probe limit admitted, the rest rejected | enough probes succeed → `Closed`; one fails → `Open` (longer break if exponential) |
/// | `Isolated` | rejected | [`reset`](super::CircuitBreaker::reset) → `Closed` |
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CircuitState {
    /// Calls flow; outcomes are judged.
    Closed,
    /// Calls are rejected until the break ends.
    Open,
    /// A few probes test whether the dependency recovered.
    HalfOpen,
    /// Forced open by [`isolate`](super::CircuitBreaker::isolate) until reset.
    Isolated,
}

impl CircuitState {
    /// Every state, in the order of their codes.
    pub const ALL: [CircuitState; 4] = [Self::Closed, Self::Open, Self::HalfOpen, Self::Isolated];

    /// The `state` label of the state gauge: `closed`, `open`, `half_open`, `isolated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
            Self::Isolated => "isolated",
        }
    }

    fn code(self) -> u64 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::HalfOpen => 2,
            Self::Isolated => 3,
        }
    }

    fn from_code(code: u64) -> Self {
        match code & 0b11 {
            0 => Self::Closed,
            1 => Self::Open,
            2 => Self::HalfOpen,
            _ => Self::Isolated,
        }
    }
}

impl fmt::Display for CircuitState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const PROBES_SHIFT: u32 = 2;
const SUCCESSES_SHIFT: u32 = 17;
const COUNT_MASK: u64 = (1 << 15) - 1;
const GENERATION_SHIFT: u32 = 32;

/// The state word: state (bits 0..2), half-open probes admitted (2..17) and probe successes
/// (17..32), and a generation (32..64) that every state change increments, so an outcome from
/// a call admitted in an earlier state is recognised and not counted in the current one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StateWord(pub(crate) u64);

impl StateWord {
    pub(crate) fn new(state: CircuitState, generation: u32) -> Self {
        Self(state.code() | (u64::from(generation) << GENERATION_SHIFT))
    }

    pub(crate) fn state(self) -> CircuitState {
        CircuitState::from_code(self.0)
    }

    pub(crate) fn generation(self) -> u32 {
        (self.0 >> GENERATION_SHIFT) as u32
    }

    pub(crate) fn probes(self) -> u32 {
        ((self.0 >> PROBES_SHIFT) & COUNT_MASK) as u32
    }

    pub(crate) fn successes(self) -> u32 {
        ((self.0 >> SUCCESSES_SHIFT) & COUNT_MASK) as u32
    }

    /// The same word with `probes` admitted (callers keep it within the configured limit,
    /// itself within the 15-bit field).
    pub(crate) fn with_probes(self, probes: u32) -> Self {
        Self((self.0 & !(COUNT_MASK << PROBES_SHIFT)) | ((u64::from(probes) & COUNT_MASK) << PROBES_SHIFT))
    }

    pub(crate) fn with_successes(self, successes: u32) -> Self {
        Self((self.0 & !(COUNT_MASK << SUCCESSES_SHIFT)) | ((u64::from(successes) & COUNT_MASK) << SUCCESSES_SHIFT))
    }
}
