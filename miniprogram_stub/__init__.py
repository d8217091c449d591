"""The mini-program client, its browser simulator, and the local fake of the WeChat platform."""
