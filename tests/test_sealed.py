"""Sealing secrets at rest (engine/sealed.py): SM4 as GB/T 32907 defines it, GCM's tag over the
value and its context, and a data key that is made once, shared by processes starting together,
and refused (naming the setting) when given but unusable."""
from __future__ import annotations

import multiprocessing

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from engine import sealed
from engine.errors import Misconfigured


def test_the_cipher_is_sm4_by_the_standards_example():
    """GB/T 32907-2016, appendix A, example 1: key and plaintext 0123456789abcdeffedcba9876543210."""
    key = bytes.fromhex("0123456789abcdeffedcba9876543210")
    encryptor = Cipher(algorithms.SM4(key), modes.ECB()).encryptor()
    assert (encryptor.update(key) + encryptor.finalize()).hex() == "681edf34d206965e86b3e94f536e4246"


def test_a_sealed_value_opens_only_with_its_key_and_its_context():
    sealer = sealed.Sealer(bytes(range(16)))
    kept = sealer.seal("JBSWY3DPEHPK3PXP", "second_factor:1")
    assert kept.startswith("sm4gcm:") and "JBSWY3DPEHPK3PXP" not in kept
    assert sealer.seal("JBSWY3DPEHPK3PXP", "second_factor:1") != kept  # a fresh nonce each time
    assert sealer.open(kept, "second_factor:1") == "JBSWY3DPEHPK3PXP"
    for wrong in [lambda: sealer.open(kept, "second_factor:2"),
                  lambda: sealed.Sealer(bytes(16)).open(kept, "second_factor:1"),
                  lambda: sealer.open(kept[:-4] + ("AAAA" if not kept.endswith("AAAA") else "BBBB"), "second_factor:1"),
                  lambda: sealer.open("JBSWY3DPEHPK3PXP", "second_factor:1"),
                  lambda: sealer.open("sm4gcm:!!", "second_factor:1"),
                  lambda: sealer.open("sm4gcm:AAAA", "second_factor:1")]:
        with pytest.raises(sealed.Unopened):
            wrong()


def _load(folder: str, queue) -> None:
    queue.put(sealed.load_key(__import__("pathlib").Path(folder)))


def test_the_instance_key_is_made_once_even_by_processes_starting_together(tmp_path, monkeypatch):
    monkeypatch.delenv(sealed.KEY_SETTING, raising=False)
    monkeypatch.delenv(sealed.KEY_FILE_SETTING, raising=False)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_load, args=(str(tmp_path), queue)) for _ in range(4)]
    for worker in workers:
        worker.start()
    keys = {queue.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(30)
    assert len(keys) == 1 and len(next(iter(keys))) == 16
    assert sealed.load_key(tmp_path) in keys
    assert (tmp_path / "data_key").stat().st_mode & 0o777 == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["data_key"]  # no drafts left


def test_a_key_given_but_unusable_stops_the_start_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.delenv(sealed.KEY_FILE_SETTING, raising=False)
    monkeypatch.setenv(sealed.KEY_SETTING, "not hex")
    with pytest.raises(Misconfigured) as bad:
        sealed.load_key(tmp_path)
    assert "DUBAN_DATA_KEY" in bad.value.errors
    monkeypatch.delenv(sealed.KEY_SETTING)
    monkeypatch.setenv(sealed.KEY_FILE_SETTING, str(tmp_path / "missing"))
    with pytest.raises(Misconfigured) as bad:
        sealed.load_key(tmp_path)
    assert "DUBAN_DATA_KEY_FILE" in bad.value.errors and not (tmp_path / "missing").exists()
    (tmp_path / "short").write_text("00ff\n")
    monkeypatch.setenv(sealed.KEY_FILE_SETTING, str(tmp_path / "short"))
    with pytest.raises(Misconfigured):
        sealed.load_key(tmp_path)
    (tmp_path / "good").write_text("00112233445566778899aabbccddeeff\n")
    monkeypatch.setenv(sealed.KEY_FILE_SETTING, str(tmp_path / "good"))
    assert sealed.load_key(tmp_path) == bytes.fromhex("00112233445566778899aabbccddeeff")
    assert not (tmp_path / "data_key").exists()


def test_the_instance_key_is_made_where_no_folder_was_yet(tmp_path, monkeypatch):
    monkeypatch.delenv(sealed.KEY_SETTING, raising=False)
    monkeypatch.delenv(sealed.KEY_FILE_SETTING, raising=False)
    assert len(sealed.load_key(tmp_path / "new" / "instance")) == 16
