//! `--queues N`: how many queues the TUN interface has (IFF_MULTI_QUEUE). The kernel spreads
//! the flows it sends over them, and synack sends each flow on the queue its addresses and
//! ports pick (`synack::device::Tun::create_multi_queue`).

use std::fmt;
use std::str::FromStr;

use synack::device::MAX_QUEUES;

/// A queue count the kernel accepts: 1 to [`MAX_QUEUES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Queues(usize);

/// Why a queue count was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueuesError {
    /// Not a whole number.
    NotANumber(String),
    /// Zero, or more than the kernel's `MAX_TAP_QUEUES`.
    OutOfRange(u64),
}

impl fmt::Display for QueuesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueuesError::NotANumber(s) => write!(f, "'{s}' is not a number of queues"),
            QueuesError::OutOfRange(n) => {
                write!(f, "a TUN interface has 1 to {MAX_QUEUES} queues, not {n}")
            }
        }
    }
}

impl std::error::Error for QueuesError {}

impl Queues {
    /// One queue: a plain TUN interface.
    pub const ONE: Queues = Queues(1);

    pub fn new(n: u64) -> Result<Queues, QueuesError> {
        match usize::try_from(n) {
            Ok(q @ 1..=MAX_QUEUES) => Ok(Queues(q)),
            _ => Err(QueuesError::OutOfRange(n)),
        }
    }

    pub fn get(self) -> usize {
        self.0
    }
}

impl FromStr for Queues {
    type Err = QueuesError;

    fn from_str(s: &str) -> Result<Queues, QueuesError> {
        let n: u64 = s
            .trim()
            .parse()
            .map_err(|_| QueuesError::NotANumber(s.to_string()))?;
        Queues::new(n)
    }
}

impl Default for Queues {
    fn default() -> Queues {
        Queues::ONE
    }
}

impl fmt::Display for Queues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_to_the_kernels_limit_is_taken_and_the_rest_refused() {
        assert_eq!("1".parse::<Queues>().map(Queues::get), Ok(1));
        assert_eq!("256".parse::<Queues>().map(Queues::get), Ok(256));
        assert_eq!("0".parse::<Queues>(), Err(QueuesError::OutOfRange(0)));
        assert_eq!("257".parse::<Queues>(), Err(QueuesError::OutOfRange(257)));
        assert_eq!(
            "99999999999999999999".parse::<Queues>(),
            Err(QueuesError::NotANumber("99999999999999999999".into()))
        );
        assert_eq!(
            "-1".parse::<Queues>(),
            Err(QueuesError::NotANumber("-1".into()))
        );
        assert_eq!(
            QueuesError::OutOfRange(0).to_string(),
            "a TUN interface has 1 to 256 queues, not 0"
        );
    }
}
