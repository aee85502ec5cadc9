//! Degradation levels: an ordered list of names, best first.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use super::DegradationError;

/// A position in a controller's [`Levels`]: 0 is full service, each higher index gives up more.
/// Comparisons follow severity: `Level::NORMAL < Level::DEGRADED < Level::MINIMAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Level(usize);

impl Level {
    /// Full service (index 0 of the default levels).
    pub const NORMAL: Level = Level(0);
    /// Optional work shed, policies relaxed (index 1 of the default levels).
    pub const DEGRADED: Level = Level(1);
    /// Only the essential path runs (index 2 of the default levels).
    pub const MINIMAL: Level = Level(2);

    /// The level at `index` (0 = best). Whether a controller has it is checked when it is built.
    pub const fn at(index: usize) -> Level {
        Level(index)
    }

    /// This level's index (0 = best); also the value of the level gauge.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "level {}", self.0)
    }
}

/// The names of a controller's levels, best first. Cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Levels {
    names: Arc<[String]>,
}

impl Levels {
    /// `normal`, `degraded`, `minimal`: [`Level::NORMAL`], [`Level::DEGRADED`], [`Level::MINIMAL`].
    pub fn standard() -> Levels {
        Levels { names: ["normal", "degraded", "minimal"].map(String::from).into() }
    }

    /// Levels with these names, best first. At least one, no name twice.
    pub fn new<I, S>(names: I) -> Result<Levels, DegradationError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        if names.is_empty() {
            return Err(DegradationError::NoLevels);
        }
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(DegradationError::DuplicateLevel(name.clone()));
            }
        }
        Ok(Levels { names: names.into() })
    }

    /// How many levels there are.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Always false: a controller has at least one level.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The worst level.
    pub fn worst(&self) -> Level {
        Level(self.names.len().saturating_sub(1))
    }

    /// The name of `level`, if this list has it.
    pub fn name(&self, level: Level) -> Option<&str> {
        self.names.get(level.0).map(String::as_str)
    }

    /// The level called `name`, if any.
    pub fn named(&self, name: &str) -> Option<Level> {
        self.names.iter().position(|n| n == name).map(Level)
    }

    pub(super) fn check(&self, level: Level) -> Result<Level, DegradationError> {
        if level.0 < self.names.len() {
            Ok(level)
        } else {
            Err(DegradationError::UnknownLevel { index: level.0, levels: self.names.len() })
        }
    }
}

impl Default for Levels {
    fn default() -> Self {
        Levels::standard()
    }
}
