//! Request signing: v1 (HMAC-SHA1) and v4 (SLS4-HMAC-SHA256).
//!
//! Not written yet.
