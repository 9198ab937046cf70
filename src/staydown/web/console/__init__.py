"""The moderators' console under /console: staff sign in with a cookie session; every view declares its permission."""
