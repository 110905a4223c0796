//! The dev clock: the time the node gives each message (`ic0.time`), as an
//! ICP replica decides the time of a round, and the controls that move it
//! (`evm_increaseTime`, `evm_setNextBlockTimestamp`).

use std::time::{SystemTime, UNIX_EPOCH};

use canister_host::MessageEnv;

use super::{Message, Node};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Clock {
    /// The wall clock, made strictly increasing.
    #[default]
    System,
    /// Starts at `start` nanoseconds and advances `step` per message: the
    /// same messages then give the same results on every run.
    Manual { start: u64, step: u64 },
}

/// The time a query sees: what an update would see now, without taking it.
pub(super) fn query_time(clock: Clock, last_time: u64, time_offset: u64) -> u64 {
    match clock {
        Clock::System => now().saturating_add(time_offset).max(last_time.saturating_add(1)),
        Clock::Manual { .. } => last_time,
    }
}

impl Node {
    /// The environment of the next message. Only updates and upgrades
    /// move the clock: a query sees the time an update would see now,
    /// without taking it, so how often clients poll does not change block
    /// timestamps. An update uses the timestamp set by
    /// [`Node::set_next_block_time`], until a block is produced.
    pub(super) fn env(&mut self, message: Message) -> MessageEnv {
        let natural = match self.clock {
            Clock::System => {
                now().saturating_add(self.time_offset).max(self.last_time.saturating_add(1))
            }
            Clock::Manual { step, .. } => self.last_time.saturating_add(step),
        };
        let time = match (message, self.next_time) {
            (Message::Query, _) => query_time(self.clock, self.last_time, self.time_offset),
            (Message::Update, Some(next)) => next.max(self.last_time.saturating_add(1)),
            (Message::Update | Message::Upgrade, _) => natural,
        };
        if message != Message::Query {
            self.last_time = time;
        }
        MessageEnv { caller: self.caller.clone(), time }
    }

    /// A block was produced at `time`: a pending next timestamp is used up,
    /// and the clock carries on from it.
    pub(super) fn block_produced(&mut self) {
        if self.next_time.take().is_some() && self.clock == Clock::System {
            self.time_offset = self.last_time.saturating_sub(now());
        }
    }

    /// Moves the chain's clock forward by `seconds` (`evm_increaseTime`);
    /// returns the total offset from the wall clock, in seconds. Refused
    /// if the clock would pass [`LATEST_TIME`].
    pub fn increase_time(&mut self, seconds: u64) -> Result<u64, String> {
        let nanos = self.time_increase(seconds)?;
        self.time_offset += nanos;
        if let Clock::Manual { .. } = self.clock {
            // The manual clock is the last message's time: move that.
            self.last_time += nanos;
        }
        Ok(self.time_offset / 1_000_000_000)
    }

    /// `seconds` in nanoseconds, if the clock can move on by that much.
    pub fn time_increase(&self, seconds: u64) -> Result<u64, String> {
        let clock = match self.clock {
            Clock::System => now().saturating_add(self.time_offset).max(self.last_time),
            Clock::Manual { .. } => self.last_time,
        };
        seconds
            .checked_mul(1_000_000_000)
            .filter(|nanos| clock.saturating_add(*nanos) <= LATEST_TIME)
            .ok_or_else(|| too_late(seconds))
    }

    /// The timestamp (seconds) of the next block (`evm_setNextBlockTimestamp`);
    /// it must be later than the last message's time.
    pub fn set_next_block_time(&mut self, seconds: u64) -> Result<(), String> {
        let nanos = seconds
            .checked_mul(1_000_000_000)
            .filter(|nanos| *nanos <= LATEST_TIME)
            .ok_or_else(|| {
                format!("timestamp {seconds} is past the year 2553, the latest the clock can go")
            })?;
        if nanos <= self.last_time {
            return Err(format!(
                "timestamp {seconds} is not after the latest block's ({})",
                self.last_time / 1_000_000_000
            ));
        }
        self.next_time = Some(nanos);
        Ok(())
    }
}

/// The latest time (nanoseconds, as `ic0.time` counts) the dev clock may
/// be moved to: a year before `u64` nanoseconds run out (in 2554), so
/// blocks can still follow it.
pub const LATEST_TIME: u64 = u64::MAX - 365 * 24 * 3600 * 1_000_000_000;

fn too_late(seconds: u64) -> String {
    format!(
        "moving the clock by {seconds} s would take it past the year 2553, the latest it can go"
    )
}

/// Nanoseconds since 1970, as `ic0.time` reports them.
pub(super) fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}
