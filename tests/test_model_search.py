"""`-m NAME` finds the models a user trained: ./models, $LSTMZIP_MODEL_PATH, the user's folder
($XDG_DATA_HOME/lstmzip/models), then the shipped ones; decoding finds a file's model by sha256 in
all of them; `lstmzip models` lists them; `lstmzip train -o NAME` writes where -m NAME looks."""

import dataclasses
import os
from pathlib import Path

import pytest

from lstmzip import model as M
from lstmzip.errors import LstmzipError
from lstmzip.train.cli import output_path

from conftest import block_methods, run_cli

PROSE = (Path(__file__).resolve().parents[1] / "README.md").read_bytes()[2000:5000]


@pytest.fixture(scope="module")
def mine(tmp_path_factory) -> Path:
    """A trained model (the shipped `small`, renamed) whose sha256 no shipped model has."""
    small = M.Model.load(M.MODELS_DIR / "small.npz")
    renamed = dataclasses.replace(small, config=dataclasses.replace(small.config, name="mine"))
    path = tmp_path_factory.mktemp("trained") / "mine.npz"
    renamed.save(path)
    return path


@pytest.fixture
def user(tmp_path, monkeypatch):
    """A working directory and a user data folder of our own, no LSTMZIP_MODEL_PATH."""
    work, data = tmp_path / "work", tmp_path / "xdg"
    work.mkdir()
    data.mkdir()
    (work / "prose.txt").write_bytes(PROSE)
    monkeypatch.delenv(M.MODEL_PATH_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(data))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(work)
    return work, data


def _env(**extra):
    env = {"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"], "HOME": os.environ["HOME"], M.MODEL_PATH_ENV: ""}
    env.update(extra)
    return env


def test_name_from_the_model_path_variable_and_decoding_by_sha256(user, mine, tmp_path):
    work, _ = user
    folder = tmp_path / "mymodels"
    folder.mkdir()
    (folder / "mine.npz").write_bytes(mine.read_bytes())
    env = _env(LSTMZIP_MODEL_PATH=os.pathsep.join([str(tmp_path / "absent"), str(folder)]))
    run_cli("compress", "-1", "-q", "-m", "mine", "prose.txt", cwd=work, env_extra=env, check=True)
    assert "lstm" in block_methods((work / "prose.txt.lstmz").read_bytes())    # the model was used
    (work / "prose.txt").unlink()
    run_cli("decompress", "-q", "prose.txt.lstmz", cwd=work, env_extra=env, check=True)   # found by sha256
    assert (work / "prose.txt").read_bytes() == PROSE
    proc = run_cli("test", "prose.txt.lstmz", cwd=work, env_extra=_env())           # not on the path now
    assert proc.returncode == 1 and b"not installed" in proc.stderr


def test_name_from_the_user_data_folder(user, mine):
    work, data = user
    (data / "lstmzip" / "models").mkdir(parents=True)
    (data / "lstmzip" / "models" / "mine.npz").write_bytes(mine.read_bytes())
    run_cli("compress", "-1", "-q", "-m", "mine", "-o", "p.lstmz", "prose.txt", cwd=work, env_extra=_env(),
            check=True)
    run_cli("test", "p.lstmz", cwd=work, env_extra=_env(), check=True)


def test_unknown_name_names_every_place_searched(user):
    work, data = user
    proc = run_cli("compress", "-m", "nosuch", "prose.txt", cwd=work, env_extra=_env())
    err = proc.stderr.decode()
    assert proc.returncode == 1 and len(err.strip().splitlines()) == 1, err
    for needle in ("'nosuch' not found", "./models", str(data / "lstmzip" / "models"), "(shipped)",
                   "$LSTMZIP_MODEL_PATH unset", "lstmzip models"):
        assert needle in err, err


def test_search_order_first_folder_wins(user, mine, tmp_path, monkeypatch):
    work, data = user
    env_dir, user_dir = tmp_path / "env", data / "lstmzip" / "models"
    for d in (work / "models", env_dir, user_dir):
        d.mkdir(parents=True)
    other = M.random_model(layers=1, hidden=8, name="other")
    other.save(env_dir / "mine.npz")
    (user_dir / "mine.npz").write_bytes(mine.read_bytes())
    monkeypatch.setenv(M.MODEL_PATH_ENV, str(env_dir))
    assert M.resolve("mine").sha256 == other.sha256               # $LSTMZIP_MODEL_PATH before the user's
    (work / "models" / "mine.npz").write_bytes(mine.read_bytes())
    assert M.resolve("mine").sha256 == M.resolve(str(mine)).sha256  # ./models first of all
    assert M.resolve("small").path.parent == M.MODELS_DIR           # then the shipped ones
    assert [w for _, w in M.search_path()] == ["./models", "$LSTMZIP_MODEL_PATH", "user", "shipped"]
    assert M.find_by_sha256(other.sha256, "nothing-by-this-name").sha256 == other.sha256
    assert {"mine", "small", "default"} <= set(M.available_models())
    with pytest.raises(LstmzipError):
        M.resolve("models/absent")                                # a path is only a path


def test_models_command_lists_name_path_sha_size_and_origin(user, mine, tmp_path):
    work, data = user
    env_dir, user_dir = tmp_path / "env", data / "lstmzip" / "models"
    env_dir.mkdir()
    user_dir.mkdir(parents=True)
    (user_dir / "mine.npz").write_bytes(mine.read_bytes())
    (env_dir / "small.npz").write_bytes(mine.read_bytes())        # hides the shipped `small`
    proc = run_cli("models", cwd=work, env_extra=_env(LSTMZIP_MODEL_PATH=str(env_dir)))
    out = proc.stdout.decode()
    assert proc.returncode == 0, proc.stderr.decode()
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "SHA256", "SIZE", "FROM", "PATH"]
    sha = M.file_sha256(mine)[:16]
    row = next(line for line in lines if line.startswith("mine "))
    assert sha in row and "user" in row and str(user_dir / "mine.npz") in row and "kB" in row
    assert any(line.startswith("small ") and "$LSTMZIP_MODEL_PATH" in line for line in lines)
    assert any(line.startswith("small ") and "hidden by $LSTMZIP_MODEL_PATH" in line for line in lines)
    assert any(line.startswith("default ") and "shipped" in line for line in lines)
    assert lines[-1].startswith("searched, in order: ./models, ")


def test_train_output_name_goes_where_m_name_looks(user):
    _, data = user
    assert output_path("mine") == str(data / "lstmzip" / "models" / "mine")
    assert (data / "lstmzip" / "models").is_dir()
    assert output_path("models/mine") == "models/mine"           # a path stays a path
    assert output_path("mine.npz") == "mine.npz"
