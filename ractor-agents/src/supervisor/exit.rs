//! How a child's incarnation ended, read from ractor's supervision events.

use ractor::SupervisionEvent;

/// How a child's incarnation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildExit {
    Normal,
    Failed(String),
    Killed,
    Abnormal(String),
}

impl ChildExit {
    pub(crate) fn from_event(event: &SupervisionEvent) -> Option<(ractor::ActorId, Self)> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => Some((cell.get_id(), Self::Failed(err.to_string()))),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let exit = match reason.as_deref() {
                    None => Self::Normal,
                    Some(r) if ["normal", "shutdown", "drained"].contains(&r.to_ascii_lowercase().as_str()) => {
                        Self::Normal
                    }
                    Some(r) if r.to_ascii_lowercase().contains("kill") => Self::Killed,
                    Some(r) => Self::Abnormal(r.to_owned()),
                };
                Some((cell.get_id(), exit))
            }
            _ => None,
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Failed(_) => "failed",
            Self::Killed => "killed",
            Self::Abnormal(_) => "abnormal",
        }
    }

    pub(crate) fn is_abnormal(&self) -> bool {
        !matches!(self, Self::Normal)
    }
}

impl std::fmt::Display for ChildExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Normal => f.write_str("exited normally"),
            Self::Failed(reason) => write!(f, "failed: {reason}"),
            Self::Killed => f.write_str("was killed"),
            Self::Abnormal(reason) => write!(f, "stopped abnormally: {reason}"),
        }
    }
}
