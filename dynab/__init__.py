"""The `dynab` command and the embedded stack it starts (the console lives in console/)."""
