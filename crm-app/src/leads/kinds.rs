//! The closed sets of values of a lead's fields: [`LeadStatus`],
//! [`LostReason`], [`LeadSource`], [`ProjectType`], and of its timeline's
//! entries ([`TimelineKind`]). Each is stored and
//! sent as its snake_case name; the pipeline's rules are methods of
//! [`LeadStatus`] (see [`super::pipeline`]).

use serde::Serialize;

/// Declares an enum stored and sent as its snake_case name, with
/// `as_str`, `parse` and `ALL`, decoded from a text column.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];
            /// Every value's name, in order.
            pub const NAMES: &'static [&'static str] = &[$($text),*];

            /// The value's name, as stored and sent.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The value named `text`.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some(Self::$variant),)*
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&'r str as sqlx::Decode<'r, DB>>::decode(value)?;
                Self::parse(text).ok_or_else(|| {
                    format!(concat!("{:?} is not a ", stringify!($name)), text).into()
                })
            }
        }
    };
}

text_enum!(
    /// Where a lead is in the pipeline (see [`super::pipeline`]).
    LeadStatus {
        /// Just in.
        New = "new",
        /// Someone spoke with the customer.
        Contacted = "contacted",
        /// Worth a quote.
        Qualified = "qualified",
        /// A quote was sent.
        Quoted = "quoted",
        /// A quote was accepted.
        Won = "won",
        /// Gone, for a [`LostReason`].
        Lost = "lost",
    }
);

text_enum!(
    /// Why a lead was lost (required when moving to `lost`).
    LostReason {
        /// Too expensive.
        Price = "price",
        /// Not now.
        Timing = "timing",
        /// Went elsewhere.
        Competitor = "competitor",
        /// Never answered.
        NoResponse = "no_response",
        /// Not work the shop does.
        Scope = "scope",
        /// Anything else.
        Other = "other",
    }
);

text_enum!(
    /// Where a lead came from.
    LeadSource {
        /// The website's form.
        WebForm = "web_form",
        /// Someone recommended the shop.
        Referral = "referral",
        /// A showroom visit.
        Showroom = "showroom",
        /// A call.
        Phone = "phone",
        /// An email.
        Email = "email",
        /// A customer from before.
        RepeatCustomer = "repeat_customer",
        /// Anything else.
        Other = "other",
    }
);

text_enum!(
    /// What kind of job a lead is.
    ProjectType {
        /// A kitchen.
        Kitchen = "kitchen",
        /// A bathroom.
        Bath = "bath",
        /// A closet.
        Closet = "closet",
        /// A built-in.
        BuiltIn = "built_in",
        /// Free-standing furniture.
        Furniture = "furniture",
        /// A shop, office or restaurant.
        Commercial = "commercial",
        /// Anything else.
        Other = "other",
    }
);

text_enum!(
    /// What a timeline entry is.
    TimelineKind {
        /// An activity (a call, a meeting, a note…).
        Activity = "activity",
        /// A status change of the lead.
        StatusChange = "status_change",
        /// An event of one of its quotes.
        QuoteEvent = "quote_event",
    }
);
