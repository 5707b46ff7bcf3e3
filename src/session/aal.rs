//! Authenticator assurance levels, as Kratos names them (`aal0` … `aal3`). A leaf module: it
//! imports nothing from the crate, so flows, sessions and the store can all use it.

use serde::{Deserialize, Serialize};

/// Ordered: a higher level satisfies every lower requirement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aal {
    /// Nothing was proven (Kratos's `NoAuthenticatorAssuranceLevel`).
    Aal0,
    Aal1,
    Aal2,
    Aal3,
}

impl Aal {
    pub fn as_str(self) -> &'static str {
        match self {
            Aal::Aal0 => "aal0",
            Aal::Aal1 => "aal1",
            Aal::Aal2 => "aal2",
            Aal::Aal3 => "aal3",
        }
    }

    pub fn parse(s: &str) -> Option<Aal> {
        match s {
            "aal0" => Some(Aal::Aal0),
            "aal1" => Some(Aal::Aal1),
            "aal2" => Some(Aal::Aal2),
            "aal3" => Some(Aal::Aal3),
            _ => None,
        }
    }
}

impl std::fmt::Display for Aal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_order_match_kratos() {
        for a in [Aal::Aal0, Aal::Aal1, Aal::Aal2, Aal::Aal3] {
            assert_eq!(Aal::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
        }
        assert!(Aal::Aal0 < Aal::Aal1 && Aal::Aal1 < Aal::Aal2 && Aal::Aal2 < Aal::Aal3);
        assert_eq!(Aal::parse("AAL1"), None);
    }
}
