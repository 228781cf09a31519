"""Payment channels: the WeChat Pay APIv3 client, its callback verifier and the sandbox.

    crypto.py        signatures, verification keys by serial, AEAD (pure functions)
    client.py        WechatPayClient over the shared httpx client (DependencyUnavailable on 5xx)
    notify.py        CallbackVerifier: signature, 5-minute window, nonce replay store, decrypt
    sandbox.py       the local APIv3 server side (development), keys in sandbox_keys.py
    gateway.py       the configured channels by name ("wechat", "sandbox")
"""
