//! @course-community/client: a typed REST client and a self-healing real-time session for the
//! Course Community API.
export { CommunityClient, Communities, Posts, Messages, Notifications, Lms } from "./client.js";
export type { CommunityClientOptions } from "./client.js";
export { Http } from "./http.js";
export type { FetchLike, TokenProvider, HttpOptions, Query } from "./http.js";
export { PageRequest } from "./pages.js";
export {
  CommunityError,
  NetworkError,
  ApiError,
  BadRequestError,
  UnauthorizedError,
  ForbiddenError,
  NotFoundError,
  ConflictError,
  ValidationError,
  RateLimitedError,
  ServerError,
} from "./errors.js";
export type { ErrorSource } from "./errors.js";
export * from "./types.js";
export { RealtimeSession, SessionClosedError } from "./realtime/session.js";
export type {
  ConnectionState,
  RealtimeSessionOptions,
  SessionEvents,
  SendOptions,
  MessageChange,
} from "./realtime/session.js";
export type { OutgoingMessage, OutgoingStatus, OutboxStorage, StoredOutgoing } from "./realtime/outbox.js";
export { memoryStorage, mintClientId } from "./realtime/outbox.js";
export { Backoff } from "./realtime/backoff.js";
export type { BackoffOptions } from "./realtime/backoff.js";
export { MessageStore, ulidTime } from "./realtime/store.js";
export { Observable } from "./realtime/observable.js";
export type { Listener, Unsubscribe } from "./realtime/observable.js";
export type { TypingUser } from "./realtime/typing.js";
export type { Clock } from "./realtime/timers.js";
export type { WebSocketLike, WebSocketConstructor } from "./realtime/socket.js";
export type * from "./realtime/events.js";
