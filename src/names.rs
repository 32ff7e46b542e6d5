//! Enums that are written as names: [`Display`](core::fmt::Display), [`FromStr`](core::str::FromStr)
//! and serde for every enum with an `ALL` list and an `as_str` name, written once.

/// Implements `Display` (the name), `FromStr` (exactly one of the names, else the `$error` that
/// `$unknown` makes from the string given) and serde (as the name, parsed the same way) for an
/// enum with `const ALL` and `fn as_str(self) -> &'static str`.
macro_rules! named_enum {
    ($ty:ty, $error:ty, $unknown:expr) => {
        impl core::fmt::Display for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl core::str::FromStr for $ty {
            type Err = $error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let unknown: fn(String) -> Self::Err = $unknown;
                Self::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| unknown(s.to_string()))
            }
        }

        impl burn::serde::Serialize for $ty {
            fn serialize<S: burn::serde::Serializer>(
                &self,
                serializer: S,
            ) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> burn::serde::Deserialize<'de> for $ty {
            fn deserialize<D: burn::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let name = <String as burn::serde::Deserialize>::deserialize(deserializer)?;
                name.parse().map_err(burn::serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use named_enum;
