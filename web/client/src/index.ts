//! Public entry point of @course-community/client.
export {};
