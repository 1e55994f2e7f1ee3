-- What the data planes of each environment record while it records (`startRecording`,
-- docs/rules.md "Record"), as JSON; NULL while it does not. Every version pushed carries it,
-- and it is kept so that a restarted control plane pushes it on: a recording stops only when
-- `stopRecording` (or its limit) stops it.
ALTER TABLE environments ADD COLUMN recording TEXT;
