//! What an agent can do: [`Capabilities`] (declared) and [`Capability`] (asked for).

use std::fmt;
use std::sync::Arc;

/// The three namespaces of capabilities. A tag, a tool and an intent with the same name are
/// different capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CapabilityKind {
    /// A free-form capability name (`"summarize"`, `"gpu"`, `"lang:fr"`): what
    /// `#[agent(capabilities = [..])]` declares, and what a plain `&str` looks up.
    Tag,
    /// A tool the agent can call (`"web_search"`).
    Tool,
    /// An intent the agent can serve (`"translate"`).
    Intent,
}

impl CapabilityKind {
    pub(crate) const ALL: [CapabilityKind; 3] = [CapabilityKind::Tag, CapabilityKind::Tool, CapabilityKind::Intent];

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One capability to look agents up by: a kind and a name. A `&str` converts to a tag.
///
/// ```
/// use ractor_agents::registry::{Capability, CapabilityKind};
/// assert_eq!(Capability::from("summarize"), Capability::tag("summarize"));
/// assert_eq!(Capability::tool("web_search").kind, CapabilityKind::Tool);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Capability<'a> {
    /// Tag, tool or intent.
    pub kind: CapabilityKind,
    /// The name within that kind.
    pub name: &'a str,
}

impl<'a> Capability<'a> {
    /// A free-form tag.
    pub fn tag(name: &'a str) -> Self {
        Self { kind: CapabilityKind::Tag, name }
    }

    /// A tool.
    pub fn tool(name: &'a str) -> Self {
        Self { kind: CapabilityKind::Tool, name }
    }

    /// An intent.
    pub fn intent(name: &'a str) -> Self {
        Self { kind: CapabilityKind::Intent, name }
    }
}

impl<'a> From<&'a str> for Capability<'a> {
    fn from(name: &'a str) -> Self {
        Self::tag(name)
    }
}

impl<'a> From<&'a String> for Capability<'a> {
    fn from(name: &'a String) -> Self {
        Self::tag(name)
    }
}

impl fmt::Display for Capability<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CapabilityKind::Tag => write!(f, "{}", self.name),
            CapabilityKind::Tool => write!(f, "tool:{}", self.name),
            CapabilityKind::Intent => write!(f, "intent:{}", self.name),
        }
    }
}

/// What an agent declares it can do: free-form tags, tools and intents. Each list is kept
/// sorted and without duplicates.
///
/// An agent type declares them with `#[agent(capabilities = [..], tools = [..], intents = [..])]`
/// or by overriding [`Agent::capabilities`](crate::agent::Agent::capabilities); an agent
/// registered by hand passes them in its [`Registration`](super::Registration).
///
/// ```
/// use ractor_agents::registry::{Capabilities, Capability};
/// let caps = Capabilities::new().tags(["summarize", "summarize", "fr"]).tool("web_search").intent("translate");
/// assert_eq!(caps.tag_names().collect::<Vec<_>>(), ["fr", "summarize"]);
/// assert!(caps.has(Capability::tool("web_search")));
/// assert!(!caps.has(Capability::tag("web_search")));
/// assert_eq!(caps.len(), 4);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Capabilities {
    lists: [Vec<Arc<str>>; 3],
}

impl Capabilities {
    /// No capabilities.
    pub fn new() -> Self {
        Self::default()
    }

    fn with(mut self, kind: CapabilityKind, name: &str) -> Self {
        let list = &mut self.lists[kind.index()];
        if let Err(at) = list.binary_search_by(|n| (**n).cmp(name)) {
            list.insert(at, Arc::from(name));
        }
        self
    }

    /// Adds a free-form tag.
    pub fn tag(self, name: impl AsRef<str>) -> Self {
        self.with(CapabilityKind::Tag, name.as_ref())
    }

    /// Adds free-form tags.
    pub fn tags<S: AsRef<str>>(self, names: impl IntoIterator<Item = S>) -> Self {
        names.into_iter().fold(self, |caps, name| caps.tag(name))
    }

    /// Adds a tool.
    pub fn tool(self, name: impl AsRef<str>) -> Self {
        self.with(CapabilityKind::Tool, name.as_ref())
    }

    /// Adds tools.
    pub fn tools<S: AsRef<str>>(self, names: impl IntoIterator<Item = S>) -> Self {
        names.into_iter().fold(self, |caps, name| caps.tool(name))
    }

    /// Adds an intent.
    pub fn intent(self, name: impl AsRef<str>) -> Self {
        self.with(CapabilityKind::Intent, name.as_ref())
    }

    /// Adds intents.
    pub fn intents<S: AsRef<str>>(self, names: impl IntoIterator<Item = S>) -> Self {
        names.into_iter().fold(self, |caps, name| caps.intent(name))
    }

    /// Whether `capability` is declared.
    pub fn has<'a>(&self, capability: impl Into<Capability<'a>>) -> bool {
        let capability = capability.into();
        self.lists[capability.kind.index()].binary_search_by(|n| (**n).cmp(capability.name)).is_ok()
    }

    /// The tags, sorted.
    pub fn tag_names(&self) -> impl Iterator<Item = &str> {
        self.names(CapabilityKind::Tag)
    }

    /// The tools, sorted.
    pub fn tool_names(&self) -> impl Iterator<Item = &str> {
        self.names(CapabilityKind::Tool)
    }

    /// The intents, sorted.
    pub fn intent_names(&self) -> impl Iterator<Item = &str> {
        self.names(CapabilityKind::Intent)
    }

    fn names(&self, kind: CapabilityKind) -> impl Iterator<Item = &str> {
        self.lists[kind.index()].iter().map(|n| &**n)
    }

    /// Every capability: tags, then tools, then intents, each sorted.
    pub fn iter(&self) -> impl Iterator<Item = Capability<'_>> {
        CapabilityKind::ALL
            .into_iter()
            .flat_map(move |kind| self.lists[kind.index()].iter().map(move |name| Capability { kind, name }))
    }

    /// Every capability with its shared name, in [`Capabilities::iter`] order.
    pub(crate) fn keys(&self) -> impl Iterator<Item = (CapabilityKind, &Arc<str>)> {
        CapabilityKind::ALL.into_iter().flat_map(move |kind| self.lists[kind.index()].iter().map(move |n| (kind, n)))
    }

    /// How many capabilities in all.
    pub fn len(&self) -> usize {
        self.lists.iter().map(Vec::len).sum()
    }

    /// `true` when nothing is declared.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
