//! Typed errors: a refused request or frame is an `ApiError` (a subclass per common code), a
//! request that never got an answer is a `NetworkError`.
import type { FieldError, Problem, ProblemCode } from "./types.js";

const STATUS_OF_CODE: Record<ProblemCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  validation_failed: 422,
  rate_limited: 429,
  internal_error: 500,
};

const CODE_OF_STATUS: Record<number, ProblemCode> = Object.fromEntries(
  Object.entries(STATUS_OF_CODE).map(([code, status]) => [status, code as ProblemCode]),
);

/** Base class of every error this library throws. */
export class CommunityError extends Error {
  override name = "CommunityError";
}

/** The request reached no answer: offline, DNS, connection refused, aborted. */
export class NetworkError extends CommunityError {
  override name = "NetworkError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What built an ApiError: an HTTP problem+json answer or a WebSocket `error` event. */
export type ErrorSource = "http" | "websocket";

/**
 * A request or frame the API refused. `status` is the HTTP status (for a WebSocket `error` event,
 * the status its `code` has over HTTP), `errors` names each bad field of a 422.
 */
export class ApiError extends CommunityError {
  override name = "ApiError";
  readonly status: number;
  readonly code: ProblemCode;
  readonly title: string;
  readonly detail: string;
  readonly type: string;
  readonly errors: FieldError[];
  /** Seconds to wait before retrying (429 / `rate_limited`). */
  readonly retryAfter: number | undefined;
  readonly source: ErrorSource;
  /** The frame's `client_id` for a WebSocket error. */
  readonly clientId: string | undefined;

  constructor(problem: Problem, source: ErrorSource = "http", clientId?: string) {
    super(problem.detail || problem.title);
    this.status = problem.status;
    this.code = problem.code;
    this.title = problem.title;
    this.detail = problem.detail;
    this.type = problem.type;
    this.errors = problem.errors ?? [];
    this.retryAfter = problem.retry_after;
    this.source = source;
    this.clientId = clientId;
  }

  /** The message of one field of a 422, if it was named. */
  fieldError(field: string): string | undefined {
    return this.errors.find((e) => e.field === field)?.message;
  }

  /** The subclass for a problem's status: `instanceof ForbiddenError` etc. */
  static from(problem: Problem, source: ErrorSource = "http", clientId?: string): ApiError {
    const Class = CLASS_OF_STATUS[problem.status] ?? ApiError;
    return new Class(problem, source, clientId);
  }

  /** An HTTP answer that is not problem+json (e.g. the gateway's own `{"message": "Not Found"}`). */
  static fromStatus(status: number, detail: string, retryAfter?: number): ApiError {
    const code = CODE_OF_STATUS[status] ?? (status >= 500 ? "internal_error" : "bad_request");
    return ApiError.from({
      type: `urn:course-community:problem:${code}`,
      title: detail,
      status,
      detail,
      code,
      ...(retryAfter === undefined ? {} : { retry_after: retryAfter }),
    });
  }

  /** A WebSocket `error` event. */
  static fromEvent(event: {
    code: ProblemCode;
    detail?: string;
    errors?: FieldError[];
    client_id?: string | null;
    retry_after?: number;
  }): ApiError {
    const status = STATUS_OF_CODE[event.code] ?? 400;
    const problem: Problem = {
      type: `urn:course-community:problem:${event.code}`,
      title: event.code,
      status,
      detail: event.detail ?? event.code,
      code: event.code,
      ...(event.errors ? { errors: event.errors } : {}),
      ...(event.retry_after === undefined ? {} : { retry_after: event.retry_after }),
    };
    return ApiError.from(problem, "websocket", event.client_id ?? undefined);
  }
}

export class BadRequestError extends ApiError {
  override name = "BadRequestError";
}
/** No token, or one that does not verify: sign in again. */
export class UnauthorizedError extends ApiError {
  override name = "UnauthorizedError";
}
/** The caller may see the object but not do this (e.g. an enrollment that ended). */
export class ForbiddenError extends ApiError {
  override name = "ForbiddenError";
}
/** No such object, or one the caller may not see. */
export class NotFoundError extends ApiError {
  override name = "NotFoundError";
}
export class ConflictError extends ApiError {
  override name = "ConflictError";
}
/** Well-formed input that breaks a rule; `errors` names each field. */
export class ValidationError extends ApiError {
  override name = "ValidationError";
}
/** Over a per-user rate limit; retry after `retryAfter` seconds. */
export class RateLimitedError extends ApiError {
  override name = "RateLimitedError";
}
export class ServerError extends ApiError {
  override name = "ServerError";
}

const CLASS_OF_STATUS: Record<number, new (p: Problem, s: ErrorSource, c?: string) => ApiError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  422: ValidationError,
  429: RateLimitedError,
  500: ServerError,
  502: ServerError,
  503: ServerError,
  504: ServerError,
};
