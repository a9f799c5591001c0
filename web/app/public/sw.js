// The web app's service worker: shows the push notifications the API sends (Web Push, encrypted
// for this browser), and opens the app where a notification leads when it is clicked.
self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: event.data ? event.data.text() : "Course Community" };
  }
  const title = data.title || "Course Community";
  event.waitUntil(
    self.registration.showNotification(title, {
      body: data.message || "",
      tag: data.id || undefined,
      data: { link: data.link || "#/notifications" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const link = new URL(event.notification.data?.link || "#/notifications", self.registration.scope).href;
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      const open = windows.find((w) => w.url.startsWith(self.registration.scope));
      if (open) return open.navigate(link).then((w) => (w ?? open).focus());
      return self.clients.openWindow(link);
    }),
  );
});
