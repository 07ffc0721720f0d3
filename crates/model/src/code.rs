//! Every error code the API answers with, in one table: the code (Graph's `innerError.code`), the
//! HTTP status it is answered with, and what it means. Each layer names its errors by these codes,
//! so a code cannot be misspelled or answered with two statuses, and docs/api.md ("Error codes")
//! lists exactly this table (a test compares them).

macro_rules! codes {
    ($($variant:ident = $text:literal, $status:literal, $meaning:literal;)*) => {
        /// An error code: its text, its HTTP status and its meaning.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            /// Every code, in the order of the table.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The code as the API spells it (`innerError.code`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $text,)*
                }
            }

            /// The HTTP status an error with this code is answered with.
            pub const fn status(self) -> u16 {
                match self {
                    $(Code::$variant => $status,)*
                }
            }

            /// What the code means, in one line.
            pub const fn meaning(self) -> &'static str {
                match self {
                    $(Code::$variant => $meaning,)*
                }
            }
        }
    };
}

codes! {
    // ---- the request body -------------------------------------------------------------------
    MissingRequestBody = "missingRequestBody", 400, "the request needs a JSON object as its body";
    MalformedJson = "malformedJson", 400, "the body is not valid JSON";
    InvalidRequestBody = "invalidRequestBody", 400, "the body is JSON but not a JSON object";
    MissingType = "missingType", 400, "a body that may hold several types does not say which (`@odata.type`)";
    AbstractType = "abstractType", 400, "`@odata.type` names an abstract type, which cannot be created";
    InvalidType = "invalidType", 400, "`@odata.type` names no type of this service, or one that does not belong here";
    TypeMismatch = "typeMismatch", 400, "`@odata.type` differs from the type the URL or the entity already has";
    UnknownProperty = "unknownProperty", 400, "the body names a property the type does not have";
    ReadOnlyProperty = "readOnlyProperty", 400, "the body sets a property the service computes";
    PropertyNotUpdatable = "propertyNotUpdatable", 400, "a subscription property that cannot change (only `expirationDateTime` and `notificationUrl` can)";
    MissingProperty = "missingProperty", 400, "a required property is missing";
    NullNotAllowed = "nullNotAllowed", 400, "the property cannot be null";
    InvalidPropertyType = "invalidPropertyType", 400, "the property's JSON type is wrong (a string where a number is expected, …)";
    InvalidProperty = "invalidProperty", 400, "the property's value breaks a rule (empty, too long, out of range, …)";
    PropertyTooLarge = "propertyTooLarge", 400, "the property's value is larger than allowed";
    InvalidEnumValue = "invalidEnumValue", 400, "the value is not a member of the property's enumeration";
    UnknownFutureValueNotAllowed = "unknownFutureValueNotAllowed", 400, "`unknownFutureValue` is a marker, not a value a client may send";
    InvalidDateTimeOffset = "invalidDateTimeOffset", 400, "not an ISO 8601 date-time with an offset in 0001–9999";
    UnsupportedCharacter = "unsupportedCharacter", 400, "the text holds a character the store cannot keep (U+0000 on PostgreSQL)";
    InvalidBinding = "invalidBinding", 400, "an `@odata.bind` value is not a reference to the right kind of entity";
    BindingTargetNotFound = "bindingTargetNotFound", 400, "an `@odata.bind` or `$ref` names an entity that does not exist";
    NavigationNotAllowed = "navigationNotAllowed", 400, "the body sets a navigation that cannot be set this way";
    InvalidReference = "invalidReference", 400, "a `$ref` body is not `{\"@odata.id\": url}` naming the right kind of entity";
    InvalidRecurrenceWindow = "invalidRecurrenceWindow", 400, "a flow's window ends before it starts";
    EndBeforeStart = "endBeforeStart", 400, "`endDateTime` is before `startDateTime`";
    EndDateTimeWhileRunning = "endDateTimeWhileRunning", 400, "a running run cannot have an `endDateTime`";

    // ---- rules of the resource's state (409) ----------------------------------------------------
    InvalidStatusTransition = "invalidStatusTransition", 409, "the run cannot move from its status to the one asked for";
    RunClosed = "runClosed", 409, "the run has finished; its times and status can no longer change";
    DerivedProperty = "derivedProperty", 409, "a runGroup's status and times follow from its members and cannot be set";
    RunAlreadyInGroup = "runAlreadyInGroup", 409, "the run already belongs to another runGroup";
    ProcessHasRuns = "processHasRuns", 409, "a flow with runs cannot be deleted";
    FlowNotReady = "flowNotReady", 409, "the flow is not `ready`, so it cannot run now";
    OutsideRecurrenceWindow = "outsideRecurrenceWindow", 409, "the flow may not run at this time of its window";
    NoFlowReady = "noFlowReady", 409, "no incomingFlow is ready and inside its window: nothing was started";

    // ---- the URL, query options and headers ---------------------------------------------------
    ItemNotFound = "itemNotFound", 404, "nothing exists at this URL (for this tenant)";
    MethodNotAllowed = "methodNotAllowed", 405, "the resource does not support this method (`Allow` lists those it does)";
    InvalidQueryOption = "invalidQueryOption", 400, "a query option's value is malformed, ill-typed, repeated or not applicable here";
    UnknownQueryOption = "unknownQueryOption", 400, "a `$` option OData does not define (or spelled in the wrong case)";
    UnsupportedQueryOption = "unsupportedQueryOption", 400, "an OData option this service does not implement (`$search`, `$apply`, …)";
    QueryTooComplex = "queryTooComplex", 400, "a query option is over a size, depth or node-count limit";
    InvalidSkipToken = "invalidSkipToken", 400, "a `$skiptoken` that was tampered with or minted for another query";
    InvalidDeltaToken = "invalidDeltaToken", 400, "a delta or stream token that was tampered with or made for another collection";
    SyncStateNotFound = "syncStateNotFound", 410, "the change log no longer holds the changes after this token: start over";
    InvalidHeader = "invalidHeader", 400, "a header's value cannot be read";
    InvalidPreference = "invalidPreference", 400, "`Prefer: odata.maxpagesize` is not a whole number from 1 to the largest page";
    InvalidHost = "invalidHost", 400, "the `Host` header cannot make a URL";
    NotAcceptable = "notAcceptable", 406, "the `Accept` header admits nothing this resource answers with";
    UnsupportedMediaType = "unsupportedMediaType", 415, "a request body that is not `application/json`";
    EntityTagDoesNotMatch = "entityTagDoesNotMatch", 412, "`If-Match` does not match the current version: read it again and retry";

    // ---- $batch -----------------------------------------------------------------------------
    InvalidBatch = "invalidBatch", 400, "the batch body is not `{\"requests\": [...]}` of well-formed requests";
    InvalidBatchSize = "invalidBatchSize", 400, "a batch holds no request or more than 20";
    DuplicateRequestId = "duplicateRequestId", 400, "two requests of a batch have the same id";
    InvalidDependsOn = "invalidDependsOn", 400, "`dependsOn` names no request of the batch, the request itself, or a cycle";
    InvalidRequestUrl = "invalidRequestUrl", 400, "a batch request's url is not a path of this service";
    InvalidRequestMethod = "invalidRequestMethod", 400, "a batch request's method is missing or not an HTTP method";
    InvalidRequestHeader = "invalidRequestHeader", 400, "a batch request's headers are not an object of text values";
    MissingContentType = "missingContentType", 400, "a batch request has a body but no `Content-Type` header";
    FailedDependency = "failedDependency", 424, "a request of a batch that depends on one that failed was not run";

    // ---- subscriptions ----------------------------------------------------------------------
    InvalidResource = "invalidResource", 400, "a subscription's resource is not one that can be subscribed to";
    InvalidChangeType = "invalidChangeType", 400, "`changeType` is not a list of created, updated and deleted";
    InvalidExpiration = "invalidExpiration", 400, "a subscription's `expirationDateTime` is not in the future";
    InvalidClientState = "invalidClientState", 400, "`clientState` is longer than 128 characters";
    InvalidNotificationUrl = "invalidNotificationUrl", 400, "a notification URL is not an absolute https URL (http only with `--webhook-allow-http`)";
    NotificationUrlRefused = "notificationUrlRefused", 400, "a notification URL resolves to an address this service does not send to (private, loopback, …)";
    SubscriptionValidationFailed = "subscriptionValidationFailed", 400, "the notification URL did not answer the validation request with its token in time";
    QuotaLimitReached = "quotaLimitReached", 403, "the tenant holds as many subscriptions as allowed";

    // ---- who is calling ---------------------------------------------------------------------
    MissingToken = "missingToken", 401, "no `Authorization: Bearer` token";
    MalformedToken = "malformedToken", 401, "the token is not a JWT (or not a Bearer token)";
    UnsignedToken = "unsignedToken", 401, "the token is not signed (`alg: none`)";
    UnsupportedTokenAlgorithm = "unsupportedTokenAlgorithm", 401, "the token is signed with an algorithm this service does not accept";
    UnknownSigningKey = "unknownSigningKey", 401, "the token's `kid` names no key of the configured key set";
    InvalidSignature = "invalidSignature", 401, "the token's signature does not verify";
    TokenExpired = "tokenExpired", 401, "the token has expired";
    TokenNotYetValid = "tokenNotYetValid", 401, "the token is not valid yet (`nbf`)";
    InvalidAudience = "invalidAudience", 401, "the token is for another audience";
    InvalidIssuer = "invalidIssuer", 401, "the token is from another issuer";
    MissingClaim = "missingClaim", 401, "the token lacks a claim this service needs";
    InvalidClaim = "invalidClaim", 401, "a claim of the token has a value this service cannot use";
    InvalidMetricsToken = "invalidMetricsToken", 401, "`/metrics` needs the configured bearer token";
    AccessDenied = "accessDenied", 403, "the caller's permissions do not allow this";

    // ---- limits and availability -------------------------------------------------------------
    RequestTimeout = "requestTimeout", 408, "the request was not received or answered in time";
    PayloadTooLarge = "payloadTooLarge", 413, "the request body is larger than allowed";
    UriTooLong = "uriTooLong", 414, "the URL is longer than allowed";
    RequestHeaderFieldsTooLarge = "requestHeaderFieldsTooLarge", 431, "the request's headers are larger than allowed";
    TooManyRequests = "tooManyRequests", 429, "over the rate limit: retry after `Retry-After` seconds";
    TooManyStarts = "tooManyStarts", 429, "over the limit of on-demand starts: retry after `Retry-After` seconds";
    TooManyConcurrentRequests = "tooManyConcurrentRequests", 503, "the server is at its limit of requests in flight: retry";
    TooManyConnections = "tooManyConnections", 503, "the server is at its limit of connections: retry";
    TooManyStreams = "tooManyStreams", 503, "the server is at its limit of live streams: retry";
    StoreUnavailable = "storeUnavailable", 503, "the database cannot be reached or is busy: retry after `Retry-After` seconds";
    GeneralException = "generalException", 500, "an error of the service itself (logged with the request-id)";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Code {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::Code;

    #[test]
    fn every_code_is_spelled_once() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.as_str()), "{code} is in the table twice");
            assert!(code.as_str().chars().next().is_some_and(|c| c.is_ascii_lowercase()), "{code}: codes are camelCase");
            assert!((400..600).contains(&code.status()), "{code}: an error status");
        }
    }
}
