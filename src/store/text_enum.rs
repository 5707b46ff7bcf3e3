//! Enums stored as text columns. `text_enum!` declares one: each variant with its stored
//! text (Kratos's names), `as_str`, `FromStr`, serde as the text, and diesel's `Text`
//! conversions for both backends, so a row field of the enum's type is converted where the row
//! is read or written, and a text no variant carries is a reported error, never a default.
//!
//! ```ignore
//! text_enum! {
//!     /// Where a message is in the queue.
//!     pub enum MessageStatus {
//!         Queued = "queued",
//!         Sent = "sent",
//!     }
//! }
//! ```

/// A stored text that names no variant of the enum read from it.
#[derive(Debug, thiserror::Error)]
#[error("{text:?} is not a valid {what}")]
pub struct UnknownText {
    pub what: &'static str,
    pub text: String,
}

macro_rules! text_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        $vis enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::store::text_enum::UnknownText;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err($crate::store::text_enum::UnknownText {
                        what: stringify!($name),
                        text: s.to_owned(),
                    }),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    DB,
                >>::from_sql(bytes)?;
                Ok(text.parse()?)
            }
        }
    };
}

pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    text_enum! {
        enum Light {
            Red = "red",
            Green = "green",
        }
    }

    #[test]
    fn variants_are_their_text() {
        for l in [Light::Red, Light::Green] {
            assert_eq!(l.as_str().parse::<Light>().unwrap(), l);
            assert_eq!(serde_json::to_value(l).unwrap(), l.as_str());
        }
        let e = "amber".parse::<Light>().unwrap_err();
        assert_eq!(e.to_string(), r#""amber" is not a valid Light"#);
    }
}
