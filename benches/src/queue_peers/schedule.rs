//! Which tasks are ready and which are leased, kept in memory by a single writer thread.
//!
//! The store on disk is the truth; this is an index of it, rebuilt at open from the stored tasks
//! (every lease is void after a restart). Keeping it in memory is what a single-writer design can
//! afford, and spares each engine a secondary index on disk.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use super::{Ack, QueueError, TaskId};

#[derive(Debug, Clone, Copy)]
struct Lease {
    token: u64,
    deadline: Instant,
    priority: u8,
}

/// Ready tasks in lease order, and the leases out.
#[derive(Debug)]
pub(crate) struct Schedule {
    /// Highest priority first, then lowest (earliest) id.
    ready: BTreeSet<(Reverse<u8>, TaskId)>,
    leased: HashMap<TaskId, Lease>,
    deadlines: BTreeSet<(Instant, TaskId)>,
    next_token: u64,
}

impl Schedule {
    /// An empty schedule whose lease tokens start at `first_token` (pick one no earlier run used).
    pub(crate) fn new(first_token: u64) -> Schedule {
        Schedule { ready: BTreeSet::new(), leased: HashMap::new(), deadlines: BTreeSet::new(), next_token: first_token }
    }

    pub(crate) fn add_ready(&mut self, id: TaskId, priority: u8) {
        self.ready.insert((Reverse(priority), id));
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// Leases up to `max` ready tasks in order under one new token (a task and a token name one
    /// lease: the same task leased again gets another token).
    pub(crate) fn take(&mut self, max: usize, lease_for: Duration, now: Instant) -> (u64, Vec<TaskId>) {
        let deadline = now + lease_for;
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        let mut taken = Vec::with_capacity(max.min(self.ready.len()));
        while taken.len() < max {
            let Some((Reverse(priority), id)) = self.ready.pop_first() else { break };
            self.leased.insert(id, Lease { token, deadline, priority });
            self.deadlines.insert((deadline, id));
            taken.push(id);
        }
        (token, taken)
    }

    /// Ends the lease `ack` names; the task is then gone.
    pub(crate) fn complete(&mut self, ack: Ack) -> Result<(), QueueError> {
        match self.leased.get(&ack.id) {
            Some(lease) if lease.token == ack.token => {
                self.deadlines.remove(&(lease.deadline, ack.id));
                self.leased.remove(&ack.id);
                Ok(())
            }
            _ => Err(QueueError::LeaseNotHeld { id: ack.id, token: ack.token }),
        }
    }

    /// When the earliest lease runs out, if any is out.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(deadline, _)| *deadline)
    }

    /// Makes every task whose lease ran out by `now` ready again; returns how many.
    pub(crate) fn reclaim_expired(&mut self, now: Instant) -> usize {
        let mut reclaimed = 0;
        while let Some(&(deadline, id)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(lease) = self.leased.remove(&id) {
                self.ready.insert((Reverse(lease.priority), id));
                reclaimed += 1;
            }
        }
        reclaimed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn leases_take_the_highest_priority_first_and_fifo_within_a_priority() {
        let mut schedule = Schedule::new(1);
        for (id, priority) in [(1, 0), (2, 5), (3, 0), (4, 5), (5, 9)] {
            schedule.add_ready(id, priority);
        }
        let (_, ids) = schedule.take(10, LONG, Instant::now());
        assert_eq!(ids, [5, 2, 4, 1, 3]);
    }

    #[test]
    fn a_leased_task_is_not_leased_again_until_acked_or_expired() {
        let mut schedule = Schedule::new(1);
        schedule.add_ready(1, 0);
        let now = Instant::now();
        let (token, taken) = schedule.take(5, LONG, now);
        let [id] = taken[..] else { panic!("one task leased") };
        assert!(schedule.take(5, LONG, now).1.is_empty());
        schedule.complete(Ack { id, token }).unwrap();
        assert!(!schedule.has_ready());
        assert!(matches!(schedule.complete(Ack { id, token }), Err(QueueError::LeaseNotHeld { .. })));
    }

    #[test]
    fn an_expired_lease_makes_the_task_ready_under_a_new_token() {
        let mut schedule = Schedule::new(1);
        schedule.add_ready(7, 3);
        let now = Instant::now();
        let (first_token, _) = schedule.take(1, Duration::from_millis(10), now);
        assert_eq!(schedule.reclaim_expired(now + Duration::from_millis(11)), 1);
        let (second_token, taken) = schedule.take(1, LONG, now);
        assert_eq!(taken, [7]);
        assert_ne!(second_token, first_token);
        let stale = Ack { id: 7, token: first_token };
        assert!(matches!(schedule.complete(stale), Err(QueueError::LeaseNotHeld { id: 7, .. })));
    }
}
