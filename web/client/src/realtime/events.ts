//! The WebSocket protocol's frames (docs/websocket.md): what the client sends, what the server pushes.
import type { FieldError, Message, MessageType, Notification, ProblemCode, Timestamp } from "../types.js";

// ---------------------------------------------------------------- client -> server

export type ClientFrame =
  | {
      type: "chat_message";
      community_id: string;
      message: string;
      message_type?: MessageType;
      reply_to?: string;
      client_id: string;
    }
  | { type: "typing"; community_id: string; is_typing: boolean }
  | { type: "read_receipt"; message_id: string; community_id?: string; client_id?: string }
  | { type: "edit_message"; message_id: string; message: string; community_id?: string; client_id?: string }
  | { type: "delete_message"; message_id: string; community_id?: string; client_id?: string }
  | { type: "subscribe"; community_id: string; client_id?: string }
  | { type: "unsubscribe"; community_id: string; client_id?: string }
  | { type: "ping"; client_id?: string };

// ---------------------------------------------------------------- server -> client

interface Envelope {
  /** When the server built the event. */
  timestamp: Timestamp;
}

export type ChatMessageEvent = Envelope & Message & { type: "chat_message" };
export type MessageEditedEvent = Envelope & Message & { type: "message_edited" };

export interface MessageDeletedEvent extends Envelope {
  type: "message_deleted";
  message_id: string;
  community_id: string;
  deleted_by: string;
  deleted_at: Timestamp;
}

export interface TypingEvent extends Envelope {
  type: "typing";
  community_id: string;
  user_id: string;
  name: string;
  is_typing: boolean;
}

export interface ReadReceiptEvent extends Envelope {
  type: "read_receipt";
  message_id: string;
  community_id: string;
  user_id: string;
  name: string;
  read_at: Timestamp;
}

/** Who came online and who went in a community since the last such frame, net (one frame per
 * stream batch of about a second: a user who reconnected inside one is in neither list). */
export interface PresenceEvent extends Envelope {
  type: "presence";
  community_id: string;
  joined: Array<{ user_id: string; name: string }>;
  left: string[];
}

export interface SubscriptionEvent extends Envelope {
  type: "subscribed" | "unsubscribed";
  community_id: string;
  client_id?: string | null;
}

export interface NotificationEvent extends Envelope {
  type: "notification";
  notification: Notification;
  /** The recipient's unread count, this notification included. */
  unread_count: number;
}

export interface PongEvent extends Envelope {
  type: "pong";
  client_id?: string | null;
}

export interface ServerErrorEvent extends Envelope {
  type: "error";
  code: ProblemCode;
  detail: string;
  client_id?: string | null;
  errors?: FieldError[];
  retry_after?: number;
}

export type ServerEvent =
  | ChatMessageEvent
  | MessageEditedEvent
  | MessageDeletedEvent
  | TypingEvent
  | ReadReceiptEvent
  | PresenceEvent
  | SubscriptionEvent
  | NotificationEvent
  | PongEvent
  | ServerErrorEvent;
