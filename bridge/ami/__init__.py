"""The AMI link to Asterisk; `ports.AmiPort` is all the rest of the bridge sees of it."""
