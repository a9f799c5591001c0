import { useEffect, useState } from "preact/hooks";

/**
 * Text the user is writing, kept in sessionStorage under `key` until `clear()`: a failed send, a
 * reload or leaving the screen loses nothing.
 */
export function useDraft(key: string, initial = ""): [string, (v: string) => void, () => void] {
  const storageKey = `course-community.draft.${key}`;
  const [value, setValue] = useState(() => sessionStorage.getItem(storageKey) ?? initial);
  useEffect(() => {
    setValue(sessionStorage.getItem(storageKey) ?? initial);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [storageKey]);
  const set = (v: string) => {
    setValue(v);
    if (v === initial) sessionStorage.removeItem(storageKey);
    else sessionStorage.setItem(storageKey, v);
  };
  const clear = () => {
    sessionStorage.removeItem(storageKey);
    setValue(initial);
  };
  return [value, set, clear];
}
