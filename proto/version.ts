// The version every part states (agent hello, session files); test/repo checks that it
// is package.json's.
export const TOLLGATE_VERSION = '0.1.0';
